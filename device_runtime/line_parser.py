"""One sensor line -> (timestamp or None, samples in contract channel order), or a counted reason to skip it.

Never raises on bad input: a device's serial stream carries half lines after a reset, noise bytes, banners
("MPU6050 ready", "# IMU not found") and debug prints, and each is counted and skipped so the stream goes on.
This is also the one parser of CSV header lines (`header_columns`, `split_unit`) and the one rule for when
two units agree (`same_unit`), for the training data and the device alike.
"""
from __future__ import annotations

import math
import re

import numpy as np

TIMESTAMP = "timestamp_ms"
MAX_LINE_BYTES = 1024  # longer lines are garbage (a missing newline); the reader never buffers more
# No IMU reports 1e6 in any unit (g, m/s^2, rad/s, deg/s, uT): beyond it a value is noise, and it also keeps
# every sample far inside float32, so one garbled row cannot turn a window into inf or NaN.
MAX_ABS_VALUE = 1e6
MAX_ABS_TIMESTAMP_MS = 1e15  # about 31,700 years: beyond any clock, and exact in float64
UNIT_FIELD = re.compile(r"^([^\[\]]*)\[([^\[\]]*)\]$")  # name[unit], nothing after the bracket
# Other spellings of one unit, so that `dps` in a header agrees with a model trained in `deg/s`.
UNIT_SPELLINGS = {"m/s2": "m/s^2", "m/s²": "m/s^2", "dps": "deg/s", "°/s": "deg/s", "µT": "uT", "μT": "uT"}
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


def _float(text: str) -> float:
    """A decimal number as a sensor prints it: Python's `1_0` (ten) is a garbled line, not a number."""
    if "_" in text:
        raise ValueError(text)
    return float(text)


def _numbers(fields: list[str], columns: ColumnMap) -> tuple[float | None, list[float]] | str:
    try:
        values = [_float(fields[i]) for i in columns.indices]
        timestamp = _float(fields[columns.time_index]) if columns.time_index is not None else None
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


def header_fields(raw: bytes) -> list[str] | None:
    """The fields as written (`acc_x[g]`) if the line reads as a CSV header: no field empty or a number
    (a byte-order mark ignored); else None."""
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
    return fields


def header_columns(raw: bytes) -> list[str] | None:
    """Column names if the line reads as a CSV header, units in brackets (as in our recording format's
    `acc_x[g]`) dropped. The one header parser of the device side."""
    fields = header_fields(raw)
    return None if fields is None else [split_unit(f)[0] for f in fields]


def split_unit(field: str) -> tuple[str, str]:
    """`acc_x[g]` -> ("acc_x", "g"); a field not of that form (`acc_x`, or a banner's `acc_x[mg] set`) is a
    name with the unit ""."""
    match = UNIT_FIELD.match(field.strip())
    return (match.group(1).strip(), match.group(2).strip()) if match else (field.strip(), "")


def same_unit(a: str, b: str) -> bool:
    """Whether two unit strings name the same unit (other spellings of one unit agree)."""
    return UNIT_SPELLINGS.get(a, a) == UNIT_SPELLINGS.get(b, b)


def unit_mismatch(given: dict[str, str], channels: list[str], units: list[str]) -> str | None:
    """What is wrong when the input gives (channel -> unit, from a header's `acc_x[g]`) a channel in another
    unit than the model's `units`; None when they agree or either side names no unit (taken on trust)."""
    for channel, unit in zip(channels, units):
        stream = given.get(channel, "")
        if stream and unit and not same_unit(stream, unit):
            return (f"the input gives {channel} in {stream}, the model takes {channel} in {unit}: "
                    "convert the values (or use a model trained on these units)")
    return None


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
