"""Regression targets derived from the recordings themselves, so a regression model needs no new data.

`cadence`: walking cadence in steps per minute. For every sample of a walking activity (a label whose name
contains "walk": HAPT's WALKING, WALKING_UPSTAIRS, WALKING_DOWNSTAIRS), take the ANALYSIS_SECONDS of
accelerometer samples centred on it; it must lie wholly inside the same walking segment. The magnitude of
the acceleration, |a| = sqrt(acc_x^2 + acc_y^2 + acc_z^2), rises once per foot strike, so its dominant
frequency is the step frequency. Remove its mean (gravity), apply a Hann window, zero-pad to 60 * rate
samples (so FFT bin k is exactly k steps/min) and take the strongest bin between MIN_CADENCE and
MAX_CADENCE steps/min. Samples of other activities, and those too near a segment's edge, have no target
(NaN): windows containing them are dropped and counted. A window's target is then the mean of its
samples' cadences, as for any per-sample target (train/data/windows.py).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from train.data.recording import UNLABELLED, DataError, Recording

ANALYSIS_SECONDS = 4.0
MIN_CADENCE, MAX_CADENCE = 60, 180  # steps/min searched: slow walking to brisk stair descent
CHUNK = 2048  # analysis windows per FFT batch, bounding memory
ACC = ("acc_x", "acc_y", "acc_z")


@dataclasses.dataclass(frozen=True)
class DerivedTarget:
    name: str
    unit: str
    describe: str


TARGETS = {"cadence": DerivedTarget("cadence", "steps/min", "walking cadence from the accelerometer magnitude")}


def walking_mask(rec: Recording) -> np.ndarray:
    """Samples labelled with a walking activity."""
    walking = np.array(["walk" in name.lower() for name in rec.label_names] + [False])
    return walking[np.where(rec.labels == UNLABELLED, len(rec.label_names), rec.labels)]


def dominant_cadence(magnitude: np.ndarray, rate_hz: float) -> np.ndarray:
    """Steps/min of each row of `magnitude` (analysis windows of |a|): the strongest FFT bin in the
    cadence band after removing the mean and applying a Hann window, zero-padded so bin k = k steps/min."""
    n_fft = int(round(60 * rate_hz))
    rows = magnitude - magnitude.mean(axis=1, keepdims=True)
    spectrum = np.abs(np.fft.rfft(rows * np.hanning(rows.shape[1]), n=n_fft, axis=1))
    low, high = MIN_CADENCE, min(MAX_CADENCE, n_fft // 2)
    return (low + spectrum[:, low : high + 1].argmax(axis=1)).astype(np.float32)


def cadence(rec: Recording) -> np.ndarray:
    """Per-sample cadence (steps/min) of a recording; NaN where it is not defined (see the module doc)."""
    missing = [c for c in ACC if c not in rec.channels]
    if missing:
        raise DataError(rec.source, f"the cadence target needs channels {list(ACC)}; {missing} missing")
    acc = rec.samples[:, [rec.channels.index(c) for c in ACC]].astype(np.float64)
    magnitude = np.sqrt((acc**2).sum(axis=1))
    half = int(round(ANALYSIS_SECONDS * rec.sample_rate_hz / 2))
    out = np.full(len(rec.samples), np.nan, np.float32)
    walking = walking_mask(rec)
    # the analysis window [t - half, t + half) must hold walking samples of one segment, and no NaN
    run_id = np.cumsum(np.r_[True, np.diff(rec.labels) != 0])
    centres = np.arange(half, len(magnitude) - half + 1)
    ok = walking[centres] & (run_id[centres - half] == run_id[centres + half - 1])
    nan = np.r_[0, np.cumsum(np.isnan(magnitude))]
    centres = centres[ok & (nan[centres + half] == nan[centres - half])]
    view = np.lib.stride_tricks.sliding_window_view(magnitude, 2 * half)
    for i in range(0, len(centres), CHUNK):
        chunk = centres[i : i + CHUNK]
        out[chunk] = dominant_cadence(view[chunk - half], rec.sample_rate_hz)
    return out


def with_target(recordings: list[Recording], name: str) -> list[Recording]:
    """The recordings with the derived target `name` as their per-sample targets."""
    if name not in TARGETS:
        raise ValueError(f"[data] target '{name}' is not one of {sorted(TARGETS)}")
    derive = {"cadence": cadence}[name]
    return [dataclasses.replace(rec, targets=derive(rec)) for rec in recordings]


def target_normalisation(y_train: np.ndarray, unit: str, centred: bool) -> dict:
    """The contract's target field: the model learns (value - offset) / scale and every device reports
    output * scale + offset in `unit`. Scale: the training windows' standard deviation; offset: their mean
    when `centred` (derived targets), else 0, so a CSV column's sign survives (a "relu" head keeps
    predictions >= 0)."""
    y = np.asarray(y_train, np.float64)
    std = float(y.std())
    return {"unit": unit, "scale": std if std > 1e-8 else 1.0, "offset": float(y.mean()) if centred else 0.0}
