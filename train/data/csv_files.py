"""The generic CSV format: `timestamp_ms, <channel>..., activity[, subject]`, one file per recording.

A channel header may carry its unit in brackets (`acc_x[g]`). An empty activity cell means unlabelled.
The sample rate comes from the timestamps; jitter is reported and resampling is on request. Excel's
"CSV UTF-8" (a byte-order mark) and its `;`-separated files with decimal commas are read as well.
"""
from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device_runtime.line_parser import header_columns, split_unit
from train.data.recording import (
    DataError, LoadReport, Recording, dataset_files, finite_float32, label_ids, printable_name,
)

TIME, ACTIVITY, SUBJECT = "timestamp_ms", "activity", "subject"
MAX_TIMESTAMP_MS = 1e14  # finite, and far from float64's range: steps and their spread stay exact enough
MAX_RESAMPLED = 20_000_000  # samples per recording after --resample-hz: four and a half days at 50 Hz
MAX_RATE_HZ = 100_000  # no IMU samples faster: a higher rate means timestamps in another unit, or rows repeated


@dataclass
class Header:
    """Where each column is, read from a file's first line."""

    fields: list[str]  # as written, units included: how messages name a field
    names: list[str]  # without units
    separator: str
    channels: list[int]
    time: int
    activity: int
    subject: int | None
    target: int | None

    def names_units(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Channel names and units, by the device runtime's header rule (`acc_x[g]`; "" where none is given)."""
        return tuple(self.names[i] for i in self.channels), tuple(split_unit(self.fields[i])[1] for i in self.channels)


def _read_text(path: Path) -> str:
    """The file as text: UTF-8 with or without a byte-order mark, else refused naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise DataError(str(path), f"not UTF-8 text (byte 0x{data[error.start]:02x}); save it as CSV UTF-8",
                        line=line) from None


def _parse_header(line: str, source: str, target_column: str | None) -> Header:
    """The header's columns. `;` separates fields when the header has no `,` (Excel in decimal-comma locales)."""
    separator = ";" if ";" in line and "," not in line else ","
    fields = [f.strip() for f in line.split(separator)]
    names = header_columns(",".join(fields).encode())
    if names is None:
        raise DataError(source, f"the first line is not a header of column names: {line[:80]!r}", line=1)
    for required in (TIME, ACTIVITY) + ((target_column,) if target_column else ()):
        if required not in names:
            hint = " (fields must be separated by ',' or ';', not tabs)" if "\t" in line else ""
            raise DataError(source, f"header has no '{required}' column (found {names}){hint}", line=1)
    repeated = sorted({n for n in names if names.count(n) > 1 or not n})
    if repeated:
        raise DataError(source, f"header names {repeated} more than once (or a unit without a name)", line=1)
    special = {TIME, ACTIVITY, SUBJECT, target_column}
    channels = [i for i, n in enumerate(names) if n not in special]
    if not channels:
        raise DataError(source, "no channel columns besides timestamp_ms and activity", line=1)
    index = {n: i for i, n in enumerate(names)}
    return Header(fields, names, separator, channels, index[TIME], index[ACTIVITY], index.get(SUBJECT),
                  index.get(target_column) if target_column else None)


def _number(text: str, header: Header, line: int, column: int, source: str) -> float:
    if header.separator == ";":
        text = text.replace(",", ".")
    try:
        if "_" in text:  # Python reads `1_0` as ten; no spreadsheet or logger writes that
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise DataError(source, f"'{text}' is not a number", line=line, field=header.fields[column]) from None


def _read_rows(text: str, header: Header, source: str, skip_bad_rows: bool, report: LoadReport) -> list[tuple]:
    """Every data row as (line, subject, t, values, activity, target); a malformed row stops, or is counted."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=header.separator)
    rows, names = [], set()
    try:
        next(reader)
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                report.skip("blank line", f"{source}, line {line}")
                continue
            try:
                if len(row) != len(header.fields):
                    raise DataError(source, f"{len(row)} fields, expected {len(header.fields)}", line=line)
                t = _number(row[header.time], header, line, header.time, source)
                if not abs(t) < MAX_TIMESTAMP_MS:
                    raise DataError(source, f"timestamp {t} is not a number of milliseconds below {MAX_TIMESTAMP_MS:g} "
                                    "(about 3,000 years)", line=line, field=TIME)
                values = [_number(row[i], header, line, i, source) for i in header.channels]
                target = math.nan
                if header.target is not None:
                    target = _number(row[header.target], header, line, header.target, source)
                subject = row[header.subject].strip() if header.subject is not None else None
                if subject == "":
                    raise DataError(source, "the subject is empty (name one, or leave the column out: the file name "
                                    "is then the subject)", line=line, field=SUBJECT)
                activity = row[header.activity].strip()
                for field, name in ((SUBJECT, subject), (ACTIVITY, activity)):
                    if name is not None and (field, name) not in names:
                        names.add((field, printable_name(name, source, field, line)))
            except DataError as error:
                if not skip_bad_rows:
                    raise
                report.skip("malformed row", str(error))
                continue
            rows.append((line, subject, t, values, activity, target))
    except csv.Error as error:
        raise DataError(source, f"unreadable CSV: {error}", line=reader.line_num) from None
    return rows


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
    text = _read_text(path)
    if not text.strip():
        raise DataError(source, "empty file: no header row")
    header = _parse_header(text.split("\n", 1)[0].rstrip("\r"), source, target_column)
    rows = _read_rows(text, header, source, skip_bad_rows, report)
    columns = [header.fields[i] for i in header.channels] + ([target_column] if target_column else [])
    lines = np.array([r[0] for r in rows], dtype=np.int64)
    table = np.array([r[3] + ([r[5]] if target_column else []) for r in rows], dtype=np.float64)
    table = table.reshape(len(rows), len(columns))
    table, keep = finite_float32(table, source, columns, lines, report if skip_bad_rows else None)
    rows = [r for r, k in zip(rows, keep) if k]
    report.rows_read += len(rows)
    if not rows:
        raise DataError(source, "no data rows: empty recording")
    by_subject: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_subject.setdefault(row[1] if row[1] is not None else path.stem, []).append(i)
    recordings = []
    for subject, index in by_subject.items():
        items = [rows[i] for i in index]
        recordings.append(_recording(items, table[index], header, source, subject, resample_hz, report))
    return recordings, report


def _recording(items, table, header: Header, source, subject, resample_hz, report) -> Recording:
    """One subject's rows as a Recording, its rate from the timestamps (which must increase)."""
    times = np.array([r[2] for r in items], dtype=np.float64)
    steps = np.diff(times)
    if (steps <= 0).any():
        bad = int(np.argmax(steps <= 0)) + 1
        raise DataError(
            source,
            f"timestamp {times[bad]:g} ms is not after the previous one ({times[bad - 1]:g} ms); "
            "timestamps must increase",
            line=items[bad][0],
            field=TIME,
        )
    if len(times) < 2:
        raise DataError(source, f"subject {subject}: one row is not enough to find the sample rate")
    median_step = float(np.median(steps))
    rate = 1000.0 / median_step
    if not rate <= MAX_RATE_HZ:  # inf too: rows a hair apart
        raise DataError(source, f"subject {subject}: the timestamps give {rate:g} Hz, above {MAX_RATE_HZ:g} Hz: are "
                        "they in milliseconds?", field=TIME)
    report.notes.append(
        f"{source} (subject {subject}): {rate:.2f} Hz from timestamps, "
        f"jitter {100 * float(np.std(steps) / median_step):.1f}%, "
        f"largest gap {steps.max():g} ms"
    )
    channels = len(header.channels)
    samples, targets = table[:, :channels], (table[:, channels] if header.target is not None else None)
    label_names: list[str] = []
    labels = label_ids([r[4] for r in items], label_names)
    if resample_hz:
        count = (times[-1] - times[0]) * resample_hz / 1000.0 + 1
        if count > MAX_RESAMPLED:
            raise DataError(source, f"subject {subject}: {times[-1] - times[0]:g} ms at {resample_hz:g} Hz (--resample-hz) "
                            f"would be {count:,.0f} samples from {len(times):,} rows, more than {MAX_RESAMPLED:,} "
                            f"(largest gap {steps.max():g} ms); are the timestamps in milliseconds?")
        samples, labels, targets = _resample(times, samples, labels, targets, resample_hz)
        rate = resample_hz
    names, units = header.names_units()
    return Recording(source, subject, rate, names, units, samples, labels, tuple(label_names), targets)


def _resample(times, samples, labels, targets, rate_hz):
    """Linear interpolation for signals, nearest sample for labels, onto a uniform grid."""
    step = 1000.0 / rate_hz
    grid = times[0] + step * np.arange(int((times[-1] - times[0]) / step + 1e-6) + 1)  # exact at epoch-ms times too
    new_samples = np.stack([np.interp(grid, times, samples[:, c]) for c in range(samples.shape[1])], axis=1)
    nearest = np.clip(np.searchsorted(times, grid), 1, len(times) - 1)
    nearest -= (grid - times[nearest - 1]) < (times[nearest] - grid)
    new_targets = np.interp(grid, times, targets).astype(np.float32) if targets is not None else None
    return new_samples.astype(np.float32), labels[nearest], new_targets


def load_csv_folder(path: str | Path, **options) -> tuple[list[Recording], LoadReport]:
    """A folder of CSV recordings is a dataset (or a single .csv file)."""
    recordings, report = [], LoadReport()
    for file in dataset_files(Path(path), "**/*.csv", "csv"):
        recs, rep = load_csv_file(file, **options)
        recordings += recs
        report.merge(rep)
    report.warnings += lonely_labels(recordings)
    return recordings, report


def lonely_labels(recordings: list[Recording]) -> list[str]:
    """A warning for each label that only one of several files uses: often a typo that would otherwise
    become an extra class."""
    files: dict[str, set[str]] = {}
    for rec in recordings:
        for name in set(np.asarray(rec.label_names)[np.unique(rec.labels[rec.labels >= 0])].tolist()):
            files.setdefault(name, set()).add(rec.source)
    total = len({r.source for r in recordings})
    return [
        f"label '{name}' appears only in {next(iter(sources))} (1 of {total} files): a typo? "
        "rename it in that file or choose the classes with --classes"
        for name, sources in sorted(files.items())
        if total > 1 and len(sources) == 1
    ]
