"""The generic CSV format: `timestamp_ms, <channel>..., activity[, subject]`, one file per recording.

A channel header may carry its unit in brackets (`acc_x[g]`). An empty activity cell means unlabelled.
The sample rate comes from the timestamps; jitter is reported and resampling is on request.
"""
from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from train.data.recording import DataError, LoadReport, Recording, label_ids

TIME, ACTIVITY, SUBJECT = "timestamp_ms", "activity", "subject"
UNIT_RE = re.compile(r"^(.*?)\s*\[(.*)\]$")


def _split_unit(header: str) -> tuple[str, str]:
    match = UNIT_RE.match(header.strip())
    return (match.group(1), match.group(2)) if match else (header.strip(), "")


def load_csv_file(
    path: str | Path,
    skip_bad_rows: bool = False,
    target_column: str | None = None,
    resample_hz: float | None = None,
) -> tuple[list[Recording], LoadReport]:
    """Read one CSV recording (one per subject if it has a subject column)."""
    path = Path(path)
    source = str(path)
    report = LoadReport()
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(source, "empty file: no header row") from None
        header = [h.strip() for h in header]
        for required in (TIME, ACTIVITY):
            if required not in header:
                raise DataError(source, f"header has no '{required}' column (found {header})", line=1)
        special = {TIME, ACTIVITY, SUBJECT} | ({target_column} if target_column else set())
        if target_column and target_column not in header:
            raise DataError(source, f"header has no target column '{target_column}'", line=1)
        channel_cols = [i for i, h in enumerate(header) if h not in special]
        if not channel_cols:
            raise DataError(source, "no channel columns besides timestamp_ms and activity", line=1)
        names_units = [_split_unit(header[i]) for i in channel_cols]
        t_col, a_col = header.index(TIME), header.index(ACTIVITY)
        s_col = header.index(SUBJECT) if SUBJECT in header else None
        y_col = header.index(target_column) if target_column else None

        rows: dict[str, list] = {}  # subject -> [(line, t, values, activity, target)]
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                report.skip("blank line", f"{source}, line {line}")
                continue
            try:
                if len(row) != len(header):
                    raise DataError(source, f"{len(row)} fields, expected {len(header)}", line=line)
                t = _number(row[t_col], source, line, TIME)
                values = [_number(row[i], source, line, header[i]) for i in channel_cols]
                target = _number(row[y_col], source, line, target_column) if y_col is not None else math.nan
            except DataError as error:
                if not skip_bad_rows:
                    raise
                report.skip("malformed row", str(error))
                continue
            subject = row[s_col].strip() if s_col is not None else path.stem
            rows.setdefault(subject, []).append((line, t, values, row[a_col].strip(), target))
            report.rows_read += 1
    if not rows:
        raise DataError(source, "no data rows: empty recording")

    recordings = []
    for subject, items in rows.items():
        lines = np.array([r[0] for r in items])
        times = np.array([r[1] for r in items], dtype=np.float64)
        steps = np.diff(times)
        if (steps <= 0).any():
            bad = int(np.argmax(steps <= 0)) + 1
            raise DataError(
                source,
                f"timestamp {times[bad]:g} ms is not after the previous one ({times[bad - 1]:g} ms); "
                "timestamps must increase",
                line=int(lines[bad]),
                field=TIME,
            )
        if len(times) < 2:
            raise DataError(source, f"subject {subject}: one row is not enough to find the sample rate")
        median_step = float(np.median(steps))
        rate = 1000.0 / median_step
        jitter = float(np.std(steps) / median_step)
        report.notes.append(
            f"{source} (subject {subject}): {rate:.2f} Hz from timestamps, jitter {100 * jitter:.1f}%, "
            f"largest gap {steps.max():g} ms"
        )
        samples = np.array([r[2] for r in items], dtype=np.float32)
        label_names: list[str] = []
        labels = label_ids([r[3] for r in items], label_names)
        targets = np.array([r[4] for r in items], dtype=np.float32) if y_col is not None else None
        if resample_hz:
            times, samples, labels, targets = _resample(times, samples, labels, targets, resample_hz)
            rate = resample_hz
        recordings.append(
            Recording(
                source=source,
                subject=subject,
                sample_rate_hz=rate,
                channels=tuple(n for n, _ in names_units),
                units=tuple(u for _, u in names_units),
                samples=samples,
                labels=labels,
                label_names=tuple(label_names),
                targets=targets,
            )
        )
    return recordings, report


def _number(text: str, source: str, line: int, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(source, f"'{text}' is not a number", line=line, field=field) from None
    if not math.isfinite(value):
        raise DataError(source, f"value {text} is not finite", line=line, field=field)
    return value


def _resample(times, samples, labels, targets, rate_hz):
    """Linear interpolation for signals, nearest sample for labels, onto a uniform grid."""
    grid = np.arange(times[0], times[-1] + 1e-9, 1000.0 / rate_hz)
    new_samples = np.stack([np.interp(grid, times, samples[:, c]) for c in range(samples.shape[1])], axis=1)
    nearest = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
    nearest -= (grid - times[nearest - 1]) < (times[nearest] - grid)
    new_targets = np.interp(grid, times, targets).astype(np.float32) if targets is not None else None
    return grid, new_samples.astype(np.float32), labels[nearest], new_targets


def load_csv_folder(path: str | Path, **options) -> tuple[list[Recording], LoadReport]:
    """A folder of CSV recordings is a dataset (or a single .csv file)."""
    path = Path(path)
    files = sorted(path.rglob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise DataError(str(path), "no .csv files: empty dataset")
    recordings, report = [], LoadReport()
    for file in files:
        recs, rep = load_csv_file(file, **options)
        recordings += recs
        report.merge(rep)
    return recordings, report
