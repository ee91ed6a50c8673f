"""Sliding windows over recordings, with a label policy and class selection, counting every drop."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from train.data.recording import UNLABELLED, DataError, Recording


@dataclass
class Windows:
    x: np.ndarray  # (N, window, C) float32, raw units
    y: np.ndarray  # (N,) int64 class index (classification) or float32 target (regression)
    subjects: np.ndarray  # (N,) str

    def __len__(self) -> int:
        return len(self.x)

    def select(self, mask: np.ndarray) -> "Windows":
        return Windows(self.x[mask], self.y[mask], self.subjects[mask])


def class_map(label_names: tuple[str, ...], classes: dict[str, str], class_names: list[str]) -> np.ndarray:
    """Per label id of a recording: the class index it becomes, or -1 when the class is not selected."""
    return np.array([class_names.index(classes[n]) if n in classes else -1 for n in label_names], dtype=np.int64)


def segment_starts(labels: np.ndarray, window: int, stride: int) -> np.ndarray:
    """Window starts that restart at every change of label, so each labelled segment is covered from its
    first sample (as UCI HAR cut its windows), not from an arbitrary grid across the recording."""
    t = len(labels)
    run_starts = np.r_[0, np.flatnonzero(np.diff(labels)) + 1]
    run_ends = np.r_[run_starts[1:], t]
    return np.concatenate([np.arange(a, min(b, t - window + 1), stride) for a, b in zip(run_starts, run_ends)])


def cut_windows(
    recordings: list[Recording],
    window: int,
    stride: int,
    classes: dict[str, str] | None,
    class_names: list[str],
    min_purity: float = 1.0,
    allow_unlabelled: bool = False,
    regression: bool = False,
) -> tuple[Windows, Counter]:
    """Windows of `window` samples every `stride` samples from each segment's start; `classes` maps a
    source label to a class name.

    A window keeps the majority class when at least `min_purity` of its samples carry it; windows with
    unlabelled samples (unless allowed), missing values, or an unselected majority class are dropped and
    counted by reason. For regression the target is the window's mean target and labels are ignored.
    """
    xs, ys, subjects, drops = [], [], [], Counter()
    channels = recordings[0].channels if recordings else ()
    for rec in recordings:
        if rec.channels != channels:
            raise DataError(rec.source, f"channels {list(rec.channels)} differ from {list(channels)} of the others")
        t = len(rec.samples)
        if t < window:
            drops["recording shorter than one window"] += 1
            continue
        starts = np.arange(0, t - window + 1, stride) if regression else segment_starts(rec.labels, window, stride)
        missing = np.r_[0, np.cumsum(np.isnan(rec.samples).any(axis=1))]
        has_missing = missing[starts + window] - missing[starts] > 0
        if regression:
            y = _regression_targets(rec, starts, window)
            reasons = [(np.isnan(y), "no target for some samples (NaN)")]
        else:
            y, reasons = _majority_classes(rec, starts, window, classes, class_names, min_purity, allow_unlabelled)
        keep = np.ones(len(starts), bool)
        for mask, reason in [(has_missing, "missing values (NaN gap)")] + reasons:
            drops[reason] += int((keep & mask).sum())
            keep &= ~mask
        view = np.lib.stride_tricks.sliding_window_view(rec.samples, window, axis=0)  # (n, C, window)
        xs.append(np.ascontiguousarray(view[starts[keep]].transpose(0, 2, 1)))
        ys.append(y[keep])
        subjects.append(np.full(int(keep.sum()), rec.subject))
    if not xs or not sum(len(x) for x in xs):
        raise DataError(
            recordings[0].source if recordings else "dataset",
            f"no windows of {window} samples survived (drops: {dict(drops) or 'none'})",
        )
    y_dtype = np.float32 if regression else np.int64
    drops = Counter({reason: n for reason, n in drops.items() if n})
    return Windows(np.concatenate(xs), np.concatenate(ys).astype(y_dtype), np.concatenate(subjects)), drops


def _regression_targets(rec: Recording, starts: np.ndarray, window: int) -> np.ndarray:
    """Each window's mean target; NaN where a sample of the window has none."""
    if rec.targets is None:
        raise DataError(rec.source, "regression needs a numeric target column")
    missing = np.isnan(rec.targets)
    cum = np.r_[0.0, np.cumsum(np.where(missing, 0.0, rec.targets), dtype=np.float64)]
    gaps = np.r_[0, np.cumsum(missing)]
    mean = (cum[starts + window] - cum[starts]) / window
    return np.where(gaps[starts + window] > gaps[starts], np.nan, mean).astype(np.float32)


def _majority_classes(rec, starts, window, classes, class_names, min_purity, allow_unlabelled):
    """Each window's majority class, and the (mask, reason) pairs of windows to drop."""
    # Buckets: selected classes 0..k-1, k = an activity not selected, k+1 = unlabelled.
    k, t = len(class_names), len(rec.samples)
    mapped = class_map(rec.label_names, classes or {n: n for n in class_names}, class_names)
    bucket = np.where(rec.labels == UNLABELLED, k + 1, np.where(mapped[rec.labels] < 0, k, mapped[rec.labels]))
    onehot = np.zeros((t + 1, k + 2), dtype=np.int32)
    onehot[np.arange(1, t + 1), bucket] = 1
    counts = np.cumsum(onehot, axis=0)
    counts = counts[starts + window] - counts[starts]
    y = counts[:, : k + 1].argmax(axis=1)
    purity = counts[np.arange(len(starts)), y] / window
    return y, [
        (~np.bool_(allow_unlabelled) & (counts[:, k + 1] > 0), "unlabelled samples in the window"),
        (y == k, "activity not among the selected classes"),
        (purity < min_purity, f"mixed activities (purity below {min_purity:g})"),
    ]
