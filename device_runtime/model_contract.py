"""Read the preprocessing contract embedded in a .tflite file, with no dependency beyond the standard library.

The converter stores the contract as JSON in the flatbuffer's metadata under METADATA_NAME, and writes the
same JSON beside the model (`model.contract.json`) for people. Readers use the embedded copy and refuse a
model whose copy beside it disagrees. This module is the one reader: the converter and the firmware
generator import it too, and it stays free of TensorFlow so the Raspberry Pi can use it.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

METADATA_NAME = "har_contract"
REQUIRED = ("version", "sample_rate_hz", "channels", "units", "window", "stride", "class_names", "norm_mean", "norm_std", "task")


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
            data_start, size = r._u("Q", offset_pos), r._u("Q", r.field(buffer, 2))
        if data_start + size > len(model):
            raise ModelError(f"{source}: truncated or corrupted TensorFlow Lite file (metadata '{name}' cut off)")
        out[name] = model[data_start : data_start + size]
    return out


def contract_from_model(model: bytes, source: str = "model") -> dict:
    """The contract embedded in the model, checked for the fields every runtime needs."""
    metadata = read_metadata(model, source)
    if METADATA_NAME not in metadata:
        raise ModelError(
            f"{source}: no preprocessing contract in the model's metadata; convert it with `har convert` "
            "so the window, channels, normalisation and classes travel with it"
        )
    try:
        contract = json.loads(metadata[METADATA_NAME].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{source}: the embedded contract is not valid JSON ({error})") from None
    missing = [key for key in REQUIRED if key not in contract]
    if missing:
        raise ModelError(f"{source}: the embedded contract lacks {missing}")
    return contract


def sidecar_path(model_path: str | Path) -> Path:
    path = Path(model_path)
    return path.with_name(path.stem + ".contract.json")


def load_contract(model_path: str | Path) -> dict:
    """Read the model's contract; if the JSON copy beside it exists, it must say the same."""
    path = Path(model_path)
    try:
        model = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: model file does not exist") from None
    contract = contract_from_model(model, str(path))
    beside = sidecar_path(path)
    if beside.exists():
        try:
            other = json.loads(beside.read_text())
        except json.JSONDecodeError as error:
            raise ModelError(f"{beside}: not valid JSON ({error})") from None
        if other != contract:
            differing = sorted(k for k in set(other) | set(contract) if other.get(k) != contract.get(k))
            raise ModelError(
                f"{beside} disagrees with the contract embedded in {path.name} on {differing}; "
                "the model and its settings do not belong together (reconvert, or delete the stale JSON)"
            )
    return contract
