"""Writing files so that a killed process never leaves half of one, and others can read what it wrote."""
from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

TEMPORARY = re.compile(r"\.(.+)\.[^.]+\.tmp")  # what a write killed half-way leaves: .NAME.RANDOM.tmp


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write to a temporary file beside `path`, flush it to disk, then rename over `path`.

    The file gets the mode a plain open() would give it (0666 less the umask), so a service running as
    another user can read a model the deploying user wrote.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        _write_in(folder, path.name, data, path)
    finally:
        os.close(folder)


@contextlib.contextmanager
def pinned_folder(path: Path) -> Iterator[Callable[[str, bytes | str], None]]:
    """write(name, data) into the folder `path` is now (made if missing, refused if it is a link): the folder
    is opened once and every file written atomically relative to that handle, so a link swapped in for it
    while the files are written changes nothing."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        folder = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise NotADirectoryError(errno.ENOTDIR, "a link or not a folder: nothing is written through it",
                                     str(path)) from None
        raise
    try:
        yield lambda name, data: _write_in(folder, name, data, path / name)
    finally:
        os.close(folder)


def _write_in(folder: int, name: str, data: bytes | str, shown: Path) -> None:
    """The atomic write of `name` in the open folder `folder` (`shown` names it in errors)."""
    if _is_folder(folder, name):  # the rename would fail, naming the temporary file
        raise IsADirectoryError(errno.EISDIR, "is a folder, not a file: move it", str(shown))
    tmp = f".{name}.{secrets.token_hex(4)}.tmp"  # TEMPORARY recognises it
    handle = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666, dir_fd=folder)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data.encode() if isinstance(data, str) else data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=folder)
        raise


def _is_folder(folder: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False
