"""Samples in, predictions out: the ring buffer, the stride, gap and rate-drift detection, smoothing."""
from __future__ import annotations

from collections import Counter

import numpy as np

from device_runtime.contract import Contract
from device_runtime.interpreter import Classifier

DRIFT_TOLERANCE = 0.05  # relative deviation of the measured sample rate that earns a warning
GAP_PERIODS = 2.5  # a step between timestamps above this many sample periods is a gap (default --max-gap-ms)


class WindowStream:
    """Classifies the last `window` samples every `stride` samples, counted from the first sample after a
    (re)start, exactly as the training pipeline cuts a continuous recording. A gap in the timestamps (or a
    timestamp that goes back) restarts the window: samples on both sides of a gap never share a window."""

    def __init__(self, classifier: Classifier, contract: Contract, smoother, max_gap_ms: float | None = None, log=None):
        self.classify, self.smoother, self.log = classifier, smoother, log
        self.window, self.stride = contract.window, contract.stride
        self.rate = float(contract.sample_rate_hz)
        self.period_ms = 1000.0 / self.rate
        self.max_gap_ms = max_gap_ms if max_gap_ms is not None else GAP_PERIODS * self.period_ms
        self.channels = contract.channels
        self.samples = np.zeros((2 * self.window, len(self.channels)), np.float32)  # each sample stored twice
        self.times = np.zeros(2 * self.window)
        self.events: Counter = Counter()
        self.names = contract.class_names
        self.contract = contract
        self.mean_step: float | None = None
        self.drifting = False
        self.reset()
        self.last_time: float | None = None

    def reset(self) -> None:
        """Forget the window (after a gap or a reconnection); smoothing starts over too."""
        self.filled = 0
        self.since = 0
        self.next = 0
        self.smoother.reset()

    def push(self, timestamp: float | None, sample: np.ndarray) -> dict | None:
        if timestamp is None:
            timestamp = (self.last_time + self.period_ms) if self.last_time is not None else 0.0
        elif self.last_time is not None:
            self._check_timing(timestamp, timestamp - self.last_time)
        self.last_time = timestamp
        i = self.next
        self.samples[i] = self.samples[i + self.window] = sample
        self.times[i] = self.times[i + self.window] = timestamp
        self.next = (i + 1) % self.window
        self.filled += 1
        self.since += 1
        if self.filled < self.window or (self.filled > self.window and self.since < self.stride):
            return None
        self.since = 0
        start = self.next  # the oldest sample
        probabilities, invoke_ms = self.classify(self.samples[start : start + self.window])
        self.last_probabilities = probabilities
        moment = {"t_ms": float(timestamp), "start_ms": float(self.times[start])}
        if self.contract.task == "regression":
            return moment | self._value(probabilities, invoke_ms)
        window_class = int(np.argmax(probabilities))
        label = self.smoother.update(probabilities)
        return moment | {
            "class": self.names[label],
            "confidence": round(float(self.smoother.confidence), 4),  # the smoother's certainty of "class"
            "window_class": self.names[window_class],
            "window_confidence": round(float(probabilities[window_class]), 4),
            "invoke_ms": round(invoke_ms, 3),
        }

    def _value(self, outputs: np.ndarray, invoke_ms: float) -> dict:
        """A regression window: its value in the target's unit, smoothed over windows, and the window's own."""
        value = float(self.contract.target_values(outputs[:1])[0])
        self.last_value = value
        return {"value": round(self.smoother.update(value), 4), "unit": self.contract.target_unit,
                "window_value": round(value, 4), "invoke_ms": round(invoke_ms, 3)}

    def _event(self, what: str, at: float) -> None:
        self.events[what] += 1
        if self.log and self.events[what] <= 3:
            self.log(f"{what} (at {at:g} ms)")

    def _check_timing(self, timestamp: float, step: float) -> None:
        """The sample at `timestamp`, `step` after the last: a clock going back or a gap restarts the window."""
        if step <= 0:
            self._event("timestamp went back (window restarted)", timestamp)
            self.reset()
            return
        if step > self.max_gap_ms:
            self._event("gap in timestamps (window restarted)", timestamp)
            self.reset()
            return
        self.mean_step = step if self.mean_step is None else 0.98 * self.mean_step + 0.02 * step
        drift = abs(1000.0 / self.mean_step - self.rate) / self.rate > DRIFT_TOLERANCE
        if drift and not self.drifting:
            self._event(f"sample rate {1000.0 / self.mean_step:.1f} Hz drifted more than {100 * DRIFT_TOLERANCE:g}% from the model's {self.rate:g} Hz",
                        timestamp)
        self.drifting = drift

    @property
    def measured_rate_hz(self) -> float | None:
        return 1000.0 / self.mean_step if self.mean_step else None
