"""The one in-memory shape every loader produces: a recording of one subject at one sample rate."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

UNLABELLED = -1  # label id of a sample that belongs to no activity


class DataError(ValueError):
    """Bad input data. The message names the file, line and field so the user can fix it."""

    def __init__(self, source: str, message: str, line: int | None = None, field: str | None = None):
        where = source
        if line is not None:
            where += f", line {line}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {message}")
        self.source, self.line, self.field = source, line, field


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


@dataclass
class LoadReport:
    """What a loader skipped or repaired, with reasons, so the summary can show it (no silent drops)."""

    rows_read: int = 0
    rows_skipped: Counter = field(default_factory=Counter)  # reason -> count
    examples: list[str] = field(default_factory=list)  # first few "file, line N: why"
    notes: list[str] = field(default_factory=list)  # e.g. sample-rate jitter per file

    def skip(self, reason: str, where: str, count: int = 1) -> None:
        self.rows_skipped[reason] += count
        if len(self.examples) < 10:
            self.examples.append(f"{where}: {reason}")

    def merge(self, other: "LoadReport") -> None:
        self.rows_read += other.rows_read
        self.rows_skipped.update(other.rows_skipped)
        self.examples.extend(other.examples[: max(0, 10 - len(self.examples))])
        self.notes.extend(other.notes)


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
