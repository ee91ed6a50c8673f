"""Reading model and contract files safely, with no dependency beyond the standard library.

The converter stores the contract as JSON in the flatbuffer's metadata under METADATA_NAME; this module
walks just enough of the FlatBuffers wire format to find it, bounds-checking every offset, so a truncated
or crafted model is a clear error rather than a crash. It stays free of TensorFlow so the Pi can use it.
"""
from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

METADATA_NAME = "har_contract"
MAX_FILE_BYTES = 64 << 20  # no model or contract this toolchain makes comes near it


class ModelError(ValueError):
    """A model file that cannot be used: truncated, not TFLite, or without a usable contract."""


class _Reader:
    """Just enough of the FlatBuffers wire format to walk Model.metadata and Model.buffers."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source = data, source

    def _u(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.data):
            raise ModelError(f"{self.source}: truncated or corrupted TensorFlow Lite file (offset {pos} out of range)")
        return struct.unpack_from("<" + fmt, self.data, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Position of field `index` of the table at `table`, or None if absent."""
        vtable = table - self._u("i", table)
        vtable_size = self._u("H", vtable)
        slot = 4 + 2 * index
        if slot >= vtable_size:
            return None
        offset = self._u("H", vtable + slot)
        return table + offset if offset else None

    def deref(self, pos: int) -> int:
        return pos + self._u("I", pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """(start of elements, length) of a vector field; (0, 0) if absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        start = self.deref(pos)
        return start + 4, self._u("I", start)


def read_metadata(model: bytes, source: str = "model") -> dict[str, bytes]:
    """All metadata entries of a .tflite flatbuffer, by name."""
    if len(model) < 8 or model[4:8] != b"TFL3":
        raise ModelError(f"{source}: not a TensorFlow Lite model (no TFL3 identifier; truncated or another file?)")
    r = _Reader(model, source)
    root = r.deref(0)
    buffers, n_buffers = r.vector(root, 4)
    entries, n_entries = r.vector(root, 6)
    out = {}
    for i in range(n_entries):
        entry = r.deref(entries + 4 * i)
        name_pos = r.field(entry, 0)
        buffer_pos = r.field(entry, 1)
        if name_pos is None or buffer_pos is None:
            continue
        name_start = r.deref(name_pos)
        name = model[name_start + 4 : name_start + 4 + r._u("I", name_start)].decode("utf-8", "replace")
        index = r._u("I", buffer_pos)
        if index >= n_buffers:
            raise ModelError(f"{source}: metadata '{name}' points at buffer {index} of {n_buffers}")
        buffer = r.deref(buffers + 4 * index)
        data_start, size = r.vector(buffer, 0)
        offset_pos = r.field(buffer, 1)
        if offset_pos is not None and r._u("Q", offset_pos) > 1:  # data stored after the flatbuffer
            size_pos = r.field(buffer, 2)
            if size_pos is None:
                raise ModelError(f"{source}: truncated or corrupted TensorFlow Lite file (metadata '{name}' has no size)")
            data_start, size = r._u("Q", offset_pos), r._u("Q", size_pos)
        if data_start + size > len(model):
            raise ModelError(f"{source}: truncated or corrupted TensorFlow Lite file (metadata '{name}' cut off)")
        out[name] = model[data_start : data_start + size]
    return out


def read_small_text(path: Path, binary: bool = False) -> str | bytes:
    """A model or JSON file's content, refusing what is missing, a folder, not a regular file (a FIFO,
    /dev/zero), unreadable or implausibly large; never reads more than MAX_FILE_BYTES + 1 bytes."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below like any non-file.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ModelError(f"{path}: not a regular file")
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ModelError(f"{path}: file does not exist") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a folder, not a file") from None
    except OSError as error:
        raise ModelError(f"{path}: cannot read ({error.strerror or error})") from None
    if len(data) > MAX_FILE_BYTES:
        raise ModelError(f"{path}: larger than {MAX_FILE_BYTES:,} bytes, too large for a model, contract or settings file")
    if binary:
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelError(f"{path}: not UTF-8 text") from None
