"""The one in-memory shape every loader produces: a recording of one subject at one sample rate."""
from __future__ import annotations

from collections import Counter
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device_runtime.contract_checks import MAX_NAME

UNLABELLED = -1  # label id of a sample that belongs to no activity
NOT_FINITE = "not finite as float32 (inf, NaN or beyond +-3.4e38)"


def where(source: str, line: int | None = None, field: str | None = None) -> str:
    """`file, line N, field 'F'`: how every data message points at the problem."""
    return source + (f", line {line}" if line is not None else "") + (f", field '{field}'" if field is not None else "")


class DataError(ValueError):
    """Bad input data. The message names the file, line and field so the user can fix it."""

    def __init__(self, source: str, message: str, line: int | None = None, field: str | None = None):
        super().__init__(f"{where(source, line, field)}: {message}")
        self.source, self.line, self.field = source, line, field


def printable_name(text: str, source: str, field: str, line: int | None = None) -> str:
    """An activity or subject name, refused if it holds a newline, tab or other control character (names are
    printed in terminals and reports, where one could start a heading or a terminal escape), or if it is
    longer than a contract holds."""
    if not isinstance(text, str) or not text.isprintable() or len(text) > MAX_NAME:
        raise DataError(source, f"{field} {str(text)[:80]!r}: names must be one line of printable text (no newline, "
                        f"tab or escape) of at most {MAX_NAME} characters", line=line, field=field)
    return text


@dataclass
class Recording:
    """T samples of C channels with one label id per sample (UNLABELLED where none)."""

    source: str  # the file (or archive member) it came from, for error messages
    subject: str
    sample_rate_hz: float
    channels: tuple[str, ...]
    units: tuple[str, ...]
    samples: np.ndarray  # (T, C) float32; NaN marks a missing value
    labels: np.ndarray  # (T,) int16 index into label_names, or UNLABELLED
    label_names: tuple[str, ...]
    targets: np.ndarray | None = None  # (T,) float32 numeric target, for regression

    def __post_init__(self) -> None:
        t = len(self.samples)
        if self.samples.ndim != 2 or self.samples.shape[1] != len(self.channels):
            raise DataError(self.source, f"samples have shape {self.samples.shape}, expected (T, {len(self.channels)})")
        if len(self.units) != len(self.channels):
            raise DataError(self.source, f"{len(self.units)} units for {len(self.channels)} channels")
        if self.labels.shape != (t,):
            raise DataError(self.source, f"{self.labels.shape[0]} labels for {t} samples")
        if self.targets is not None and self.targets.shape != (t,):
            raise DataError(self.source, f"{self.targets.shape[0]} targets for {t} samples")
        printable_name(self.subject, self.source, "subject")
        for name in self.label_names:
            printable_name(name, self.source, "activity")


def select_channels(recordings: list[Recording], names: list[str] | None, source: str) -> list[Recording]:
    """The recordings with only the named channels, in the order named (None: all of them): an
    accelerometer-only model reads acc_x, acc_y, acc_z and the device feeds it nothing else."""
    if names is None:
        return recordings
    present = recordings[0].channels if recordings else ()
    missing = [n for n in names if n not in present]
    if not names or missing or len(set(names)) != len(names):
        raise DataError(source, f"channels = {names}: name each once, from the data's channels {list(present)}"
                        + (f" ({missing} are not among them)" if missing else ""), field="channels")
    picked = [present.index(n) for n in names]
    return [dataclasses.replace(r, channels=tuple(names), units=tuple(r.units[i] for i in picked),
                                samples=r.samples[:, picked]) for r in recordings]


@dataclass
class LoadReport:
    """What a loader skipped or repaired, with reasons, so the summary can show it (no silent drops)."""

    rows_read: int = 0
    rows_skipped: Counter = field(default_factory=Counter)  # reason -> count
    examples: list[str] = field(default_factory=list)  # first few "file, line N: why"
    notes: list[str] = field(default_factory=list)  # e.g. sample-rate jitter per file
    warnings: list[str] = field(default_factory=list)  # likely mistakes in the data that did not stop loading

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        self.rows_skipped[reason] += count
        if len(self.examples) < 10:
            self.examples.append(f"{where}: {reason}")

    def merge(self, other: "LoadReport") -> None:
        self.rows_read += other.rows_read
        self.rows_skipped.update(other.rows_skipped)
        self.examples.extend(other.examples[: max(0, 10 - len(self.examples))])
        self.notes.extend(other.notes)
        self.warnings.extend(other.warnings)


def label_ids(names: list[str], label_names: list[str]) -> np.ndarray:
    """Map per-sample label strings to ids, growing label_names in place; '' becomes UNLABELLED."""
    index = {n: i for i, n in enumerate(label_names)}
    out = np.empty(len(names), dtype=np.int16)
    for i, name in enumerate(names):
        if name == "":
            out[i] = UNLABELLED
            continue
        if name not in index:
            index[name] = len(label_names)
            label_names.append(name)
        out[i] = index[name]
    return out


def finite_float32(
    values: np.ndarray,
    source: str,
    fields: list[str],
    lines: np.ndarray,
    report: LoadReport | None = None,
    allow_nan: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """`values` (rows x fields) as float32, keeping only rows whose every value is finite *as float32*,
    and the mask of rows kept.

    Loaders parse text as float64 and store float32: 1e39 or `inf` would pass a float64 check and then
    poison normalisation, so every loader checks here, after the cast. NaN marks a missing value where a
    format has them (`allow_nan`). A bad row is refused naming file, line and field or, given a `report`,
    skipped and counted there."""
    with np.errstate(over="ignore"):  # the overflow is what this finds
        cast = np.asarray(values, dtype=np.float64).astype(np.float32)
    bad = np.isinf(cast) if allow_nan else ~np.isfinite(cast)
    keep = ~bad.any(axis=1)
    if keep.all():
        return cast, keep
    row = int(np.argmin(keep))
    column = int(np.argmax(bad[row]))
    if report is None:
        value = np.asarray(values, dtype=np.float64)[row, column]
        raise DataError(source, f"value {value:g} is {NOT_FINITE}", line=int(lines[row]), field=fields[column])
    report.skip(f"value {NOT_FINITE}", where(source, int(lines[row]), fields[column]), count=int((~keep).sum()))
    return cast[keep], keep


def dataset_files(path: Path, pattern: str | None, fmt: str) -> list[Path]:
    """The files a format reads: `path` itself when it is a regular file, or those matching `pattern` under
    a folder (`pattern` None: the format reads one file). Anything else (a folder where one file is expected,
    a device, a pipe) is refused before any read, since it might never end."""
    if path.is_dir():
        if pattern is None:
            raise DataError(str(path), f"is a folder; --format {fmt} reads one file")
        files = sorted(p for p in path.glob(pattern) if p.is_file())
        if not files:
            raise DataError(str(path), f"no {pattern.split('*')[-1]} files: empty dataset for --format {fmt}")
        return files
    if not path.is_file():
        raise DataError(str(path), f"is not a regular file or folder; --format {fmt} reads files")
    return [path]
