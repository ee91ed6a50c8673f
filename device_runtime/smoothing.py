"""Smoothing of successive window predictions, shared by the Pi runtime and (as C) the generated firmware.

Majority vote over the last k predictions, ties going to the most recent of the tied classes; or an
exponential moving average of the class probabilities with hysteresis (switch only when the new class
leads the current one by a margin).
"""
from __future__ import annotations

from collections import deque

import numpy as np

DEFAULT_VOTES = 3


class MajorityVote:
    def __init__(self, votes: int = DEFAULT_VOTES):
        if votes < 1:
            raise ValueError("majority vote needs at least 1 window")
        self.history: deque[int] = deque(maxlen=votes)

    def update(self, probabilities: np.ndarray) -> int:
        self.history.append(int(np.argmax(probabilities)))
        counts: dict[int, int] = {}
        for label in self.history:
            counts[label] = counts.get(label, 0) + 1
        best = max(counts.values())
        return next(label for label in reversed(self.history) if counts[label] == best)

    def reset(self) -> None:
        self.history.clear()


class EmaHysteresis:
    def __init__(self, alpha: float = 0.5, margin: float = 0.1):
        if not 0 < alpha <= 1:
            raise ValueError("EMA alpha must be in (0, 1]")
        self.alpha, self.margin = alpha, margin
        self.average: np.ndarray | None = None
        self.current: int | None = None

    def update(self, probabilities: np.ndarray) -> int:
        p = np.asarray(probabilities, dtype=np.float64)
        self.average = p if self.average is None else self.alpha * p + (1 - self.alpha) * self.average
        leader = int(np.argmax(self.average))
        if self.current is None or self.average[leader] >= self.average[self.current] + self.margin:
            self.current = leader
        return self.current

    def reset(self) -> None:
        self.average, self.current = None, None
