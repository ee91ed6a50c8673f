"""One sensor line -> (timestamp or None, samples in contract channel order), or a counted reason to skip it.

Never raises on bad input: a device's serial stream carries half lines after a reset, noise bytes and
debug prints, and each is counted and skipped so the stream goes on.
"""
from __future__ import annotations

import math

import numpy as np

TIMESTAMP = "timestamp_ms"
MAX_LINE_BYTES = 1024  # longer lines are garbage (a missing newline); the reader never buffers more


class ColumnMap:
    """Which field of a line holds which channel. `columns` names every field of the incoming lines;
    fields named like a contract channel are used, `timestamp_ms` is the timestamp, others are ignored."""

    def __init__(self, columns: list[str], channels: list[str]):
        missing = [c for c in channels if c not in columns]
        if missing:
            raise ValueError(
                f"the stream's columns {columns} lack the model's channels {missing}; "
                "map them with --columns (one name per field, in the order the sensor sends them)"
            )
        self.n_fields = len(columns)
        self.indices = [columns.index(c) for c in channels]
        self.time_index = columns.index(TIMESTAMP) if TIMESTAMP in columns else None
        self.columns = columns


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
        return "wrong field count"
    try:
        values = [float(fields[i]) for i in columns.indices]
        timestamp = float(fields[columns.time_index]) if columns.time_index is not None else None
    except ValueError:
        return "not a number"
    if not all(math.isfinite(v) for v in values) or (timestamp is not None and not math.isfinite(timestamp)):
        return "NaN or inf"
    return timestamp, np.array(values, dtype=np.float32)


def header_columns(raw: bytes) -> list[str] | None:
    """Column names if the line is a CSV header (our recording format's, units in brackets dropped)."""
    try:
        fields = [f.strip() for f in raw.decode("utf-8").strip().split(",")]
    except UnicodeDecodeError:
        return None
    if not fields or any(not f for f in fields):
        return None
    try:
        [float(f) for f in fields]
        return None
    except ValueError:
        return [f.split("[")[0].strip() for f in fields]
