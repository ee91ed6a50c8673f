"""One sensor line -> (timestamp or None, samples in contract channel order), or a counted reason to skip it.

Never raises on bad input: a device's serial stream carries half lines after a reset, noise bytes, banners
("MPU6050 ready", "# IMU not found") and debug prints, and each is counted and skipped so the stream goes on.
This is also the one parser of CSV header lines (`header_columns`).
"""
from __future__ import annotations

import math

import numpy as np

TIMESTAMP = "timestamp_ms"
MAX_LINE_BYTES = 1024  # longer lines are garbage (a missing newline); the reader never buffers more
# No IMU reports 1e6 in any unit (g, m/s^2, rad/s, deg/s, uT): beyond it a value is noise, and it also keeps
# every sample far inside float32, so one garbled row cannot turn a window into inf or NaN.
MAX_ABS_VALUE = 1e6
MAX_ABS_TIMESTAMP_MS = 1e15  # about 31,700 years: beyond any clock, and exact in float64
TEXT_LINE = "text line (a banner or comment, or a header without the model's channels)"


class ColumnMap:
    """Which field of a line holds which channel. `columns` names every field of the incoming lines;
    fields named like a contract channel are used, `timestamp_ms` is the timestamp, others are ignored."""

    def __init__(self, columns: list[str], channels: list[str]):
        missing = [c for c in channels if c not in columns]
        if missing:
            raise ValueError(
                f"the columns {columns[:70]} lack the model's channels {missing}; "
                "map them with --columns (one name per field, in the order the sensor sends them)"
            )
        repeated = sorted({c for c in columns if columns.count(c) > 1 and (c in channels or c == TIMESTAMP)})
        if repeated:
            raise ValueError(f"the columns name {repeated} more than once; each field needs its own name")
        self.n_fields = len(columns)
        self.indices = [columns.index(c) for c in channels]
        self.time_index = columns.index(TIMESTAMP) if TIMESTAMP in columns else None
        self.columns = columns


def _numbers(fields: list[str], columns: ColumnMap) -> tuple[float | None, list[float]] | str:
    try:
        values = [float(fields[i]) for i in columns.indices]
        timestamp = float(fields[columns.time_index]) if columns.time_index is not None else None
    except ValueError:
        return "not a number"
    if not all(math.isfinite(v) for v in values) or (timestamp is not None and not math.isfinite(timestamp)):
        return "NaN or inf"
    if not all(abs(v) <= MAX_ABS_VALUE for v in values):
        return f"value beyond +-{MAX_ABS_VALUE:g}"
    if timestamp is not None and not abs(timestamp) <= MAX_ABS_TIMESTAMP_MS:
        return f"timestamp beyond +-{MAX_ABS_TIMESTAMP_MS:g} ms"
    return timestamp, values


def parse_line(raw: bytes, columns: ColumnMap) -> tuple[float | None, np.ndarray] | str:
    """The parsed sample, or the reason (a short string) it was skipped."""
    if len(raw) > MAX_LINE_BYTES:
        return "overlong line"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8"
    text = text.strip()
    if not text:
        return "empty line"
    fields = text.split(",")
    if len(fields) != columns.n_fields:
        return TEXT_LINE if header_columns(raw) is not None else "wrong field count"
    parsed = _numbers(fields, columns)
    if isinstance(parsed, str):
        return TEXT_LINE if header_columns(raw) is not None else parsed
    timestamp, values = parsed
    return timestamp, np.array(values, dtype=np.float32)


def header_columns(raw: bytes) -> list[str] | None:
    """Column names if the line reads as a CSV header: no field empty or a number (units in brackets, as in
    our recording format's `acc_x[g]`, dropped; a byte-order mark ignored). The one header parser of the
    device side."""
    try:
        fields = [f.strip() for f in raw.decode("utf-8").lstrip("\ufeff").strip().split(",")]
    except UnicodeDecodeError:
        return None
    if any(not f for f in fields):
        return None
    for f in fields:
        try:
            float(f)
            return None
        except ValueError:
            pass
    return [split_unit(f)[0] for f in fields]


def split_unit(field: str) -> tuple[str, str]:
    """`acc_x[g]` -> ("acc_x", "g"); a field without brackets has the unit ""."""
    name, _, unit = field.partition("[")
    return name.strip(), unit.removesuffix("]").strip()


def header_map(raw: bytes, channels: list[str]) -> ColumnMap | None:
    """The column map a header line gives, if it is one naming every model channel exactly once; else None
    (a banner, a comment or a foreign header is then skipped as a text line, never fatal)."""
    names = header_columns(raw)
    if names is None:
        return None
    try:
        return ColumnMap(names, channels)
    except ValueError:
        return None
