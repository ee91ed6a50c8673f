"""Where sensor lines come from: a serial port (reconnecting), a recorded CSV (replayed), or stdin.

Every source yields raw lines (bytes, without the newline) and never buffers more than MAX_LINE_BYTES + 1
of one line: the rest of an overlong line is dropped and its truncated start still yielded, so the parser
counts it. After the serial port had to be reopened, the source yields RECONNECTED (samples were lost).
"""
from __future__ import annotations

import errno
import os
import stat
import sys
import time
from typing import Callable, Iterator

from device_runtime.line_parser import MAX_LINE_BYTES

RECONNECTED = object()
BACKOFF_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)  # waits between reconnection attempts, the last one repeated
MAX_BAUD = 100_000_000  # above any UART's rate, and within what the serial driver takes (a C int)


class LineSplitter:
    """Chunks of bytes in, complete lines out, holding at most MAX_LINE_BYTES + 1 bytes of a line.

    A line ends at LF, CR LF or a lone CR (some sensors end lines with CR only: without this, their whole
    stream would be one overlong line)."""

    def __init__(self):
        self.buffer = bytearray()
        self.overlong = False
        self.after_cr = False  # the previous chunk ended in CR: an LF starting this one belongs to it

    def feed(self, chunk: bytes) -> list[bytes]:
        if self.after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]
            self.after_cr = False  # that LF is spent: a second one is a line of its own
        if chunk:
            self.after_cr = chunk.endswith(b"\r")
        lines = []
        for i, part in enumerate(chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")):
            if i:
                lines.append(bytes(self.buffer))
                self.buffer.clear()
                self.overlong = False
            if not self.overlong:
                self.buffer += part[: MAX_LINE_BYTES + 1 - len(self.buffer)]
                self.overlong = len(self.buffer) > MAX_LINE_BYTES
        return lines


def file_lines(stream, chunk_size: int = 1 << 16) -> Iterator[bytes]:
    """Lines of a binary file-like object (a recording, or stdin), read in chunks."""
    splitter = LineSplitter()
    read = getattr(stream, "read1", stream.read)
    while chunk := read(chunk_size):
        yield from splitter.feed(chunk)
    yield from splitter.feed(b"\n") if splitter.buffer else ()


def check_port(port: str) -> None:
    """Refuse a --port that is a folder or a plain file: waiting for it to become a serial device would be
    forever (a missing port is waited for: a device may be plugged in later); and one without pyserial."""
    try:
        import serial  # noqa: F401  (only --port needs it)
    except ImportError:
        raise ValueError(f"--port {port} needs pyserial: pip install pyserial") from None
    kind = "a folder" if os.path.isdir(port) else "a regular file" if os.path.isfile(port) else None
    if kind:
        raise ValueError(f"--port {port} is {kind}, not a serial device (a recording is replayed with --replay)")


def replay_file(path: str):
    """The recording opened for reading; a device (/dev/zero: an endless stream with no line in it) refused."""
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise ValueError(f"cannot read --replay {path}: {error.strerror or error}") from None
    mode = os.fstat(stream.fileno()).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        stream.close()
        raise ValueError(f"--replay {path} is a device, not a recording (read a live stream with --port or --stdin)")
    return stream


def serial_lines(port: str, baud: int, log: Callable[[str], None], sleep=time.sleep) -> Iterator:
    """Lines from a serial port, forever: a vanished device is reopened with backoff, and the caller is
    told with RECONNECTED so it can restart its window."""
    import serial

    failures, opened_before = 0, False
    while True:
        try:
            connection = serial.Serial(port, baud, timeout=0.5)
        except (serial.SerialException, OSError) as error:
            if os.strerror(errno.ENOTTY) in str(error):  # it opened, and is no terminal: /dev/null, a disk
                raise ValueError(f"--port {port} is not a serial device ({error})") from None
            wait = BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)]
            if failures == 0:
                log(f"cannot open {port} ({error}); retrying")
            failures += 1
            sleep(wait)
            continue
        if opened_before:
            log(f"reconnected to {port}")
            yield RECONNECTED
        opened_before, failures = True, 0
        splitter = LineSplitter()
        try:
            while True:
                chunk = connection.read(max(1, connection.in_waiting))
                yield from splitter.feed(chunk)
        except (serial.SerialException, OSError) as error:
            log(f"lost {port} ({error}); reconnecting")
        finally:
            connection.close()


def stdin_lines() -> Iterator[bytes]:
    return file_lines(sys.stdin.buffer)
