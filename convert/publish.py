"""One conversion's files (MODEL.tflite, MODEL.contract.json, MODEL.report.json/.md) written as one unit.

Everything is staged in a private folder beside --out, then moved into place in an order that never shows
a reader a model beside another model's contract: the stale contract goes first, the model next, its
contract after it (load_contract accepts a model without one). A per-output lock refuses a second
conversion to the same --out while one runs, and a failed conversion's report never replaces a good one.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from device_runtime.contract import sidecar_path


class ConversionError(RuntimeError):
    """The converted model falls short (accuracy drop, TFLM cannot run it): nothing is published, exit 1
    as documented; the message says what to do. Bad inputs are ValueErrors (exit 2)."""


class OutputBusy(ValueError):
    """Another conversion holds this output's lock."""


def output_path(out: str | Path) -> Path:
    """--out as an absolute path (the TFLM probe runs elsewhere), checked to be a .tflite file name."""
    path = Path(os.path.abspath(out))
    if path.is_dir():
        raise ValueError(f"--out {out}: is a folder; give a file name such as {Path(out) / 'model.tflite'}")
    if path.suffix != ".tflite":
        raise ValueError(f"--out {out}: the model's file name must end in .tflite (its contract and reports are "
                         "written beside it with the same stem)")
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"--out {out}: {path.parent} is not a folder")
    return path


def report_path(model_path: Path, suffix: str, failed: bool = False) -> Path:
    """MODEL.report.SUFFIX, or MODEL.rejected.report.SUFFIX for a conversion that failed its checks."""
    return model_path.with_name(model_path.stem + (".rejected" if failed else "") + f".report.{suffix}")


@contextlib.contextmanager
def staging(out: Path) -> Iterator[Path]:
    """Hold the output's lock and yield a private folder beside `out` for the files; removed at the end."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.with_name(f".{out.name}.lock")
    # O_NONBLOCK: a FIFO put there must not hang the open; anything but a regular file is refused
    not_a_file = OutputBusy(f"--out {out}: its lock {lock_path} is not a regular file; remove it")
    try:
        lock = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
    except OSError as error:
        if error.errno == errno.ENXIO:  # a FIFO with no reader
            raise not_a_file from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(lock).st_mode):
            raise not_a_file
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputBusy(f"--out {out}: another `har convert` is writing this model (it holds {lock_path.name}); "
                             "wait for it to finish or choose another --out") from None
        for stale in out.parent.glob(f".{glob.escape(out.name)}.staging.*"):  # a killed conversion's: the lock is ours
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging."))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(lock)


def publish(folder: Path, out: Path) -> None:
    """Move a passed conversion's staged files into place: reports, then (stale contract removed) the model,
    then its contract. A kill at any point leaves a model that agrees with whatever contract is beside it."""
    for suffix in ("json", "md"):
        os.replace(report_path(folder / out.name, suffix), report_path(out, suffix))
        report_path(out, suffix, failed=True).unlink(missing_ok=True)
    sidecar_path(out).unlink(missing_ok=True)
    _sync(out.parent)
    os.replace(folder / out.name, out)
    os.replace(sidecar_path(folder / out.name), sidecar_path(out))
    _sync(out.parent)


def publish_rejected(folder: Path, out: Path) -> Path:
    """A failed conversion's reports go to MODEL.rejected.report.*, beside (never over) a good model's."""
    for suffix in ("json", "md"):
        os.replace(report_path(folder / out.name, suffix), report_path(out, suffix, failed=True))
    _sync(out.parent)
    return report_path(out, "md", failed=True)


def _sync(folder: Path) -> None:
    """Make the renames in `folder` durable."""
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)
