"""PAMAP2 protocol `.dat` files: 54 space-separated columns at 100 Hz, three IMUs (hand, chest, ankle).

Columns: timestamp (s), activityID, heart rate, then 17 per IMU: temperature, acc +-16 g (3), acc +-6 g (3),
gyro (3), magnetometer (3), orientation (4, invalid). Activity 0 is a transient and becomes unlabelled.
Short NaN gaps (dropped packets) are interpolated; longer ones stay NaN and windowing drops them.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from train.data.recording import UNLABELLED, DataError, LoadReport, Recording, dataset_files, finite_float32

SAMPLE_RATE_HZ = 100.0
N_COLUMNS = 54
ACTIVITIES = {
    1: "lying", 2: "sitting", 3: "standing", 4: "walking", 5: "running", 6: "cycling", 7: "nordic_walking",
    9: "watching_tv", 10: "computer_work", 11: "car_driving", 12: "ascending_stairs", 13: "descending_stairs",
    16: "vacuum_cleaning", 17: "ironing", 18: "folding_laundry", 19: "house_cleaning", 20: "playing_soccer",
    24: "rope_jumping",
}
IMUS = {"hand": 3, "chest": 20, "ankle": 37}  # first column of each IMU block
SENSORS = {"acc": (1, "m/s^2"), "gyro": (7, "rad/s"), "mag": (10, "uT")}  # offset within the block
CHANNELS, UNITS, COLUMNS = [], [], []
for _imu, _base in IMUS.items():
    for _sensor, (_offset, _unit) in SENSORS.items():
        for _k, _axis in enumerate("xyz"):
            CHANNELS.append(f"{_imu}_{_sensor}_{_axis}")
            UNITS.append(_unit)
            COLUMNS.append(_base + _offset + _k)
LABEL_NAMES = tuple(ACTIVITIES.values())
MAX_FILLED_GAP = 10  # samples (0.1 s) of NaN that are interpolated; longer gaps stay missing


def _fill_short_gaps(column: np.ndarray, report: LoadReport, source: str) -> None:
    missing = np.isnan(column)
    if not missing.any():
        return
    edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    known = np.flatnonzero(~missing)
    for start, end in zip(starts, ends):
        if end - start <= MAX_FILLED_GAP and start > 0 and end < len(column):
            column[start:end] = np.interp(np.arange(start, end), known, column[known])
            report.rows_skipped["NaN samples interpolated (short gap)"] += end - start
        else:
            report.rows_skipped["NaN samples left missing (long gap)"] += end - start


def load_pamap2_file(path: str | Path) -> tuple[Recording, LoadReport]:
    path = Path(path)
    source = str(path)
    report = LoadReport()
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    table = np.full((len(lines), N_COLUMNS), np.nan)
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if len(fields) != N_COLUMNS:
            raise DataError(source, f"{len(fields)} fields, expected {N_COLUMNS}", line=number)
        try:
            table[number - 1] = [float(f) for f in fields]
        except ValueError:
            bad = next(i for i, f in enumerate(fields) if not _is_float(f))
            message = f"'{fields[bad]}' is not a number"
            raise DataError(source, message, line=number, field=f"column {bad + 1}") from None
    if not len(lines):
        raise DataError(source, "empty file")
    times, activities = table[:, 0], table[:, 1]
    for col, name in ((0, "timestamp"), (1, "activityID")):
        bad = ~np.isfinite(table[:, col]) | ((col == 1) & (table[:, col] != np.round(table[:, col])))
        if bad.any():
            line = int(np.argmax(bad)) + 1
            raise DataError(source, f"{table[line - 1, col]:g} is not a finite {'whole number' if col else 'number'}",
                            line=line, field=name)
    if (np.diff(times) <= 0).any():
        line = int(np.argmax(np.diff(times) <= 0)) + 2
        raise DataError(source, "timestamp is not after the previous one", line=line, field="timestamp")
    labels = np.full(len(lines), UNLABELLED, np.int16)
    for value in np.unique(activities):  # compared as floats: 1e300 has no int64
        if value != 0 and value not in ACTIVITIES:
            line = int(np.argmax(activities == value)) + 1
            raise DataError(source, f"unknown activity id {value:g}", line=line, field="activityID")
        if value:
            labels[activities == value] = LABEL_NAMES.index(ACTIVITIES[int(value)])
    fields = [f"column {c + 1}" for c in COLUMNS]
    samples, _ = finite_float32(table[:, COLUMNS], source, fields, np.arange(1, len(lines) + 1), allow_nan=True)
    for c in range(samples.shape[1]):
        _fill_short_gaps(samples[:, c], report, source)
    report.rows_read = len(lines)
    match = re.search(r"subject(\d+)", path.stem)
    recording = Recording(
        source=source,
        subject=match.group(1) if match else path.stem,
        sample_rate_hz=SAMPLE_RATE_HZ,
        channels=tuple(CHANNELS),
        units=tuple(UNITS),
        samples=samples,
        labels=labels,
        label_names=LABEL_NAMES,
    )
    return recording, report


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def load_pamap2(path: str | Path) -> tuple[list[Recording], LoadReport]:
    """A .dat file or a folder of them (PAMAP2's Protocol/ folder)."""
    recordings, report = [], LoadReport()
    for file in dataset_files(Path(path), "*.dat", "pamap2"):
        recording, rep = load_pamap2_file(file)
        recordings.append(recording)
        report.merge(rep)
    return recordings, report
