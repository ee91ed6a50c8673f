"""WISDM v1.1 raw: `user,activity,timestamp_ns,x,y,z;` records, accelerometer only, 20 Hz nominal.

The published file has known defects: trailing semicolons, several records on one line, blank lines,
missing values and zero timestamps. Defective records are skipped and counted; a user's stream is cut
into separate recordings where the timestamps jump back or leave a gap.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from train.data.recording import DataError, LoadReport, Recording, dataset_files, finite_float32, label_ids

SAMPLE_RATE_HZ = 20.0
CHANNELS = ("acc_x", "acc_y", "acc_z")
UNITS = ("m/s^2", "m/s^2", "m/s^2")
MAX_GAP_MS = 1000.0  # a larger jump starts a new recording


def _records(text: str, source: str, report: LoadReport):
    """Yield (line, fields) for every non-empty record; a line may hold several, each ends with ';'."""
    for number, line in enumerate(text.splitlines(), start=1):
        pieces = [p.strip() for p in line.split(";")]
        if not any(pieces):
            report.skip("blank line", f"{source}, line {number}")
        for piece in pieces:
            if piece:
                yield number, piece.rstrip(",").split(",")


def load_wisdm(path: str | Path) -> tuple[list[Recording], LoadReport]:
    """One Recording per user and continuous stretch of timestamps."""
    path = Path(path)
    source = str(dataset_files(path, None, "wisdm")[0])
    report = LoadReport()
    records = []  # (line, user, t_ms, activity), values
    values = []
    for number, fields in _records(path.read_text(encoding="utf-8", errors="replace"), source, report):
        where = f"{source}, line {number}"
        if len(fields) != 6:
            report.skip(f"{len(fields)} fields instead of 6", where)
            continue
        user, activity, *numbers = (f.strip() for f in fields)
        try:
            t_ns, x, y, z = (float(v) for v in numbers)
        except ValueError:
            report.skip("missing or non-numeric value", where)
            continue
        if not math.isfinite(t_ns) or not user or not activity:
            report.skip("missing user, activity or timestamp", where)
            continue
        if t_ns <= 0:
            report.skip("zero timestamp", where)
            continue
        records.append((number, user, t_ns / 1e6, activity))
        values.append((x, y, z))
    lines = np.array([r[0] for r in records], dtype=np.int64)
    samples, keep = finite_float32(np.reshape(values, (-1, 3)), source, list(CHANNELS), lines, report)
    streams: dict[str, list] = {}
    for (_, user, t_ms, activity), xyz in zip((r for r, k in zip(records, keep) if k), samples):
        streams.setdefault(user, []).append((t_ms, xyz, activity))
    report.rows_read = len(samples)
    if not streams:
        raise DataError(source, "no valid records: empty dataset")
    recordings = [rec for user, rows in streams.items() for rec in _continuous(rows, user, source, report)]
    if not recordings:
        raise DataError(source, "no continuous stream of at least 2 records: every record is isolated between "
                        f"timestamp jumps (back in time, or gaps over {MAX_GAP_MS:g} ms)")
    report.notes.append(f"{source}: {len(recordings)} continuous streams from {len(streams)} users")
    return recordings, report


def _continuous(rows: list, user: str, source: str, report: LoadReport) -> list[Recording]:
    """One user's records cut where the timestamps jump back or leave a gap."""
    times = np.array([r[0] for r in rows])
    cuts = np.flatnonzero((np.diff(times) <= 0) | (np.diff(times) > MAX_GAP_MS)) + 1
    recordings = []
    for start, end in zip(np.r_[0, cuts], np.r_[cuts, len(rows)]):
        if end - start < 2:
            report.skip("isolated record between timestamp jumps", f"{source}, user {user}")
            continue
        label_names: list[str] = []
        labels = label_ids([r[2] for r in rows[start:end]], label_names)
        recordings.append(
            Recording(
                source=f"{source} (user {user}, records {start + 1}-{end})",
                subject=user,
                sample_rate_hz=SAMPLE_RATE_HZ,
                channels=CHANNELS,
                units=UNITS,
                samples=np.array([r[1] for r in rows[start:end]], dtype=np.float32),
                labels=labels,
                label_names=tuple(label_names),
            )
        )
    return recordings
