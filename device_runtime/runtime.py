"""The runtime's loop: sensor lines in, one JSON prediction per stride out.

Almost no input ends it: every line that is not a sample (a banner, a comment, a half line, a value no
sensor reports) is counted by reason, the first few of each reason logged, and the stream goes on. Only its
outputs failing (OutputError), the input failing to read (OSError), a signal (Stop) or a header whose units
disagree with the model's (UnitMismatch: every value after it would be silently wrong) end it early.
"""
from __future__ import annotations

import json
import resource
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable

from device_runtime.line_parser import (ColumnMap, header_fields, header_map, parse_line, split_unit,
                                        unit_mismatch)
from device_runtime.outputs import Outputs
from device_runtime.sources import RECONNECTED
from device_runtime.stream import WindowStream

LOGGED_PER_REASON = 3


class UnitMismatch(ValueError):
    """The input's header gives a channel in another unit than the model takes."""


class Pacer:
    """Sleeps so that samples are handled at the recording's pace (--realtime). A gap wider than the
    stream's restart gap, or a clock going back, re-anchors the pace instead of sleeping through it: the
    window restarts there anyway, and a year-long gap must not hang the replay."""

    def __init__(self, max_gap_ms: float):
        self.max_gap_ms = max_gap_ms
        self.origin = self.last = None

    def wait(self, moment_ms: float) -> None:
        now = time.perf_counter()
        if self.last is None or not 0 <= moment_ms - self.last <= self.max_gap_ms:
            self.origin = now - moment_ms / 1000.0
        self.last = moment_ms
        delay = self.origin + moment_ms / 1000.0 - now
        if delay > 0:
            time.sleep(min(delay, self.max_gap_ms / 1000.0))


def peak_memory_mb() -> float:
    """Peak resident memory of this process. /proc's VmHWM starts afresh at exec; ru_maxrss would also
    count the parent that forked us (a benchmark harness, say)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class Runtime:
    """Feeds lines to a WindowStream and writes its predictions; `summary()` says what happened."""

    def __init__(self, stream: WindowStream, columns: ColumnMap, fixed_columns: bool, outputs: Outputs,
                 realtime: bool, log: Callable[[str], None], units: list[str]):
        self.stream, self.columns, self.outputs, self.log = stream, columns, outputs, log
        self.units = units  # the model's, per channel: a header giving others is refused
        self.refused = False  # by such a header
        self.fixed_columns = fixed_columns  # --columns given: header lines are not looked for
        self.pacer = Pacer(stream.max_gap_ms) if realtime else None
        self.counts: Counter = Counter()
        self.skipped: Counter = Counter()
        self.started = time.perf_counter()

    def run(self, lines: Iterable) -> None:
        for raw in lines:
            if raw is RECONNECTED:
                self.counts["reconnections"] += 1
                self.stream.reset()
            else:
                self.handle(raw)

    def handle(self, raw: bytes) -> None:
        received = time.perf_counter()
        self.counts["lines"] += 1
        parsed = parse_line(raw, self.columns)
        if isinstance(parsed, str):
            self._not_a_sample(raw, parsed)
            return
        timestamp, sample = parsed
        if self.pacer:
            self.pacer.wait(timestamp if timestamp is not None else self.counts["samples"] * self.stream.period_ms)
            received = time.perf_counter()
        self.counts["samples"] += 1
        prediction = self.stream.push(timestamp, sample)
        if prediction is not None:
            prediction["latency_ms"] = round((time.perf_counter() - received) * 1000, 3)
            self.outputs.write(json.dumps(prediction))
            self.counts["predictions"] += 1

    def _not_a_sample(self, raw: bytes, reason: str) -> None:
        """A header naming every model channel maps the columns (unless --columns did); all else is skipped.
        Any header giving a model channel in another unit than the model's is refused."""
        given = dict(map(split_unit, header_fields(raw) or []))  # a header names every channel, a banner may not
        problem = set(self.stream.channels) <= set(given) and unit_mismatch(given, self.stream.channels, self.units)
        if problem:
            self.refused = True
            raise UnitMismatch(f"line {self.counts['lines']}: {problem}")
        header = None if self.fixed_columns else header_map(raw, self.stream.channels)
        if header is not None:
            self.columns = header
            self.counts["header lines"] += 1
            return
        self.skipped[reason] += 1
        if self.skipped[reason] <= LOGGED_PER_REASON:
            self.log(f"line {self.counts['lines']} skipped ({reason}): {raw[:80]!r}")

    def summary(self) -> dict:
        if self.counts["lines"] and not self.counts["samples"] and not self.refused:
            self.log(f"no line was a sample: each needs {self.columns.n_fields} fields {self.columns.columns} "
                     "(name other layouts with --columns)")
        return {
            "lines_read": self.counts["lines"], "samples": self.counts["samples"],
            "predictions": self.counts["predictions"], "header_lines": self.counts["header lines"],
            "skipped": dict(self.skipped), "stream_events": dict(self.stream.events),
            "reconnections": self.counts["reconnections"],
            "seconds": round(time.perf_counter() - self.started, 3),
            "measured_rate_hz": self.stream.measured_rate_hz and round(self.stream.measured_rate_hz, 2),
            "interpreter": getattr(self.stream.classify, "interpreter_name", None),
            "max_rss_mb": peak_memory_mb(),
        }
