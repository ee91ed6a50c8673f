"""Where predictions go: stdout, and optionally appended to a file; a write that fails is an OutputError.

A full disk, a folder given as --output, or a reader that went away (`| head -1`) must end the runtime with
a message naming the output, never a traceback; writing on regardless would only lose predictions silently.
"""
from __future__ import annotations

import errno
import os
import sys
from pathlib import Path


class OutputError(Exception):
    """Predictions cannot be written; the message names the output and the reason."""


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def open_output(path: str, inputs: list[str]) -> "Outputs":
    """Outputs with --output PATH opened for appending (line-buffered); refuses an input (the model, its
    contract sidecar, the replay) given as output."""
    target = Path(path)
    for other in filter(None, inputs):
        try:  # by name too: a sidecar that is not there yet is read on every later start
            if os.path.realpath(target) == os.path.realpath(other) or (target.exists() and os.path.samefile(target, other)):
                raise OutputError(f"--output {path} is the input file {other}; appending would destroy it")
        except OSError:
            pass  # an input that cannot be examined is reported where it is read
    try:
        if target.is_dir():
            raise OutputError(f"--output {path} is a folder; give a file to append the predictions to")
        # O_NONBLOCK: a FIFO that no process reads is refused at once instead of waiting for a reader
        descriptor = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o644)
        os.set_blocking(descriptor, True)
        return Outputs(os.fdopen(descriptor, "a", buffering=1, encoding="utf-8"), path)
    except OSError as error:
        reason = "it is a FIFO that no process reads" if error.errno == errno.ENXIO else _reason(error)
        raise OutputError(f"cannot open --output {path} for appending: {reason}") from None


class Outputs:
    """One JSON line per prediction to stdout and, if given, to a file."""

    def __init__(self, file=None, path: str = ""):
        if sys.stdout is None:
            raise OutputError("standard output is closed; predictions go there (and to --output)")
        self.file, self.path = file, path

    def write(self, line: str) -> None:
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            _discard_stdout()
            raise OutputError("standard output was closed by its reader (broken pipe); stopping") from None
        except OSError as error:
            _discard_stdout()
            raise OutputError(f"cannot write to standard output: {_reason(error)}") from None
        if self.file:
            try:
                self.file.write(line + "\n")
            except OSError as error:
                self.file = _close_quietly(self.file)
                raise OutputError(f"cannot write to --output {self.path}: {_reason(error)}") from None

    def close(self) -> None:
        """Close the file; an error flushing it now is reported like any failed write."""
        if self.file:
            file, self.file = self.file, None
            try:
                file.close()
            except OSError as error:
                raise OutputError(f"cannot write to --output {self.path}: {_reason(error)}") from None


def _close_quietly(file) -> None:
    """Close a file whose write already failed: flushing its leftover line fails again, already reported."""
    try:
        file.close()
    except OSError:
        pass


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so Python's own flush at exit does not fail again on the dead stream."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass
