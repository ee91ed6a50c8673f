"""Smoothing of successive window predictions, shared by the Pi runtime and (as C) the generated firmware.

Majority vote over the last k predictions, ties going to the most recent of the tied classes; or an
exponential moving average of the class probabilities with hysteresis (switch only when the new class
leads the current one by a margin). Every smoother also says how sure its answer is (`confidence`), so the
runtime reports a figure about the class it reports, not the current window's probability of it.
A regression model's values are smoothed by the mean or the median of the last k windows (`ValueSmoother`).
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

DEFAULT_VOTES = 3
DEFAULT_ALPHA = 0.5
DEFAULT_HYSTERESIS = 0.1
KINDS = ("vote", "ema", "none")
VALUE_KINDS = ("mean", "median", "none")
MAX_VOTES = 1000


class WindowOnly:
    """No smoothing: each window's own class; `confidence` is the window's probability of it."""

    def __init__(self):
        self.confidence = 0.0

    def update(self, probabilities: np.ndarray) -> int:
        label = int(np.argmax(probabilities))
        self.confidence = float(probabilities[label])
        return label

    def reset(self) -> None:
        """Nothing is carried from window to window."""


class MajorityVote:
    def __init__(self, votes: int = DEFAULT_VOTES):
        self.history: deque[int] = deque(maxlen=votes)
        self.confidence = 0.0

    def update(self, probabilities: np.ndarray) -> int:
        """The smoothed class; `confidence` becomes its share of the votes held."""
        self.history.append(int(np.argmax(probabilities)))
        counts: dict[int, int] = {}
        for label in self.history:
            counts[label] = counts.get(label, 0) + 1
        best = max(counts.values())
        self.confidence = best / len(self.history)
        return next(label for label in reversed(self.history) if counts[label] == best)

    def reset(self) -> None:
        self.history.clear()


class EmaHysteresis:
    def __init__(self, alpha: float = DEFAULT_ALPHA, margin: float = DEFAULT_HYSTERESIS):
        self.alpha, self.margin = alpha, margin
        self.average: np.ndarray | None = None
        self.current: int | None = None
        self.confidence = 0.0

    def update(self, probabilities: np.ndarray) -> int:
        """The smoothed class; `confidence` becomes its moving-average probability."""
        p = np.asarray(probabilities, dtype=np.float64)
        self.average = p if self.average is None else self.alpha * p + (1 - self.alpha) * self.average
        leader = int(np.argmax(self.average))
        if self.current is None or self.average[leader] >= self.average[self.current] + self.margin:
            self.current = leader
        self.confidence = float(self.average[self.current])
        return self.current

    def reset(self) -> None:
        self.average, self.current = None, None


class ValueSmoother:
    """A regression value smoothed over the last k windows: their mean (float32, summed oldest first, as
    the generated C sums them) or their median; "none" keeps each window's value."""

    def __init__(self, kind: str = "mean", count: int = DEFAULT_VOTES):
        self.kind = kind
        self.history: deque[np.float32] = deque(maxlen=1 if kind == "none" else count)

    def update(self, value: float) -> float:
        self.history.append(np.float32(value))
        if self.kind == "median":
            return float(np.median(np.array(self.history, np.float64)))
        total = np.float32(0.0)
        for v in self.history:
            total = np.float32(total + v)
        return float(np.float32(total / np.float32(len(self.history))))

    def reset(self) -> None:
        self.history.clear()


def _is_whole(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool) and math.isfinite(value)


def make_smoother(
    kind: str, votes: int = DEFAULT_VOTES, alpha: float = DEFAULT_ALPHA, hysteresis: float = DEFAULT_HYSTERESIS
) -> WindowOnly | MajorityVote | EmaHysteresis:
    """The one way to build a smoother (runtime, stream evaluation, bench), so every caller gets the same
    checks: "vote" (majority over `votes` windows), "ema" (`alpha`, `hysteresis`) or "none" (each window's own
    class). Raises ValueError naming the bad argument."""
    if kind not in KINDS:
        raise ValueError(f"smoothing must be one of {list(KINDS)}, not {kind!r}")
    if kind == "none":
        return WindowOnly()
    if kind == "vote":
        return MajorityVote(_window_count(votes))
    if not _is_real(alpha) or not 0 < alpha <= 1:
        raise ValueError(f"EMA alpha must be a number in (0, 1], not {alpha!r}")
    if not _is_real(hysteresis) or not 0 <= hysteresis < 1:
        raise ValueError(f"hysteresis must be a probability margin in [0, 1), not {hysteresis!r}")
    return EmaHysteresis(float(alpha), float(hysteresis))


def _window_count(votes: object) -> int:
    if not _is_whole(votes) or not 1 <= votes <= MAX_VOTES:
        raise ValueError(f"votes must be a whole number of windows in 1-{MAX_VOTES}, not {votes!r}")
    return int(votes)


def make_value_smoother(kind: str, votes: int = DEFAULT_VOTES) -> ValueSmoother:
    """The smoother of a regression model's values: "mean" or "median" over `votes` windows, or "none"."""
    if kind not in VALUE_KINDS:
        raise ValueError(f"a regression model's smoothing must be one of {list(VALUE_KINDS)}, not {kind!r}")
    return ValueSmoother(kind, _window_count(votes))
