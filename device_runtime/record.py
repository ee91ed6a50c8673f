"""`har record` / `python -m device_runtime.record`: labelled recordings from a serial sensor, in the generic CSV format the data layer reads.

Rows `timestamp_ms,<channel>[unit]...,activity,subject` are written and flushed as they arrive, with the
device's own timestamps, so nothing recorded is lost on Ctrl-C, a crash or an unplugged cable. The label
comes from the participant's keys (1-9: a class, 0 or space: unlabelled, q: stop) or from a timed
protocol file ("walk 60 s" per line). If the device restarts and its clock goes back, a new file
(NAME-2.csv, ...) is started, since timestamps must increase within a recording. It lives beside the Pi
runtime because it is a device-facing tool sharing its serial source, line parser and stop handling.
"""
from __future__ import annotations

from device_runtime.signals import hold_signals

if __name__ == "__main__":  # Ctrl-C or SIGTERM from here until run() can stop cleanly waits (numpy's C import
    hold_signals()          # would turn Stop into an ImportError; before run(), a traceback)

import argparse
import json
import os
import re
import select
import sys
import time
from collections import Counter
from pathlib import Path

from device_runtime.line_parser import TIMESTAMP, ColumnMap, parse_line
from device_runtime.model_file import read_small_text
from device_runtime.outputs import OutputError, Outputs
from device_runtime.signals import Stop, ignore_signals, install_stop_handlers, release_signals
from device_runtime.sources import MAX_BAUD, RECONNECTED, check_port, serial_lines

DEFAULT_COLUMNS = ["timestamp_ms", "acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]
DEFAULT_UNITS = ["g", "g", "g", "rad/s", "rad/s", "rad/s"]
STEP = re.compile(r"^\s*(\S+)\s+(\d+(?:\.\d*)?|\.\d+)\s*s?\s*$")
UNSAFE = re.compile(r'[,"\[\]\x00-\x1f\x7f]')  # would split, quote or end a CSV field, or a header's [unit]


def csv_field(value: str, what: str) -> str:
    """`value`, if it can be written as one plain CSV field that the data layer reads back as it is."""
    if not value.strip() or value != value.strip() or UNSAFE.search(value):
        raise ValueError(f"{what} {value!r}: use a plain name (no commas, quotes, brackets, control characters "
                         "or outer spaces), since it is written as one CSV field")
    return value


def exact(value: float) -> str:
    """The shortest text that reads back as the same number at its own precision (the timestamp's float64,
    a sample's float32): an uptime of 12,000,020 ms must not become 1.2e+07."""
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else str(value)


def read_protocol(path: str | Path) -> list[tuple[str, float]]:
    """[(label, seconds)] from lines like `walk 60 s`; '#' starts a comment; label '-' is unlabelled."""
    steps = []
    for number, line in enumerate(read_small_text(Path(path)).splitlines(), start=1):
        line = line.split("#")[0]
        if not line.strip():
            continue
        match = STEP.match(line)
        if not match:
            raise ValueError(f"{path}, line {number}: expected 'LABEL SECONDS' like 'walk 60 s', got {line.strip()!r}")
        label = "" if match.group(1) == "-" else csv_field(match.group(1), f"{path}, line {number}: the label")
        steps.append((label, float(match.group(2))))
    if not steps:
        raise ValueError(f"{path}: the protocol has no steps")
    return steps


class ProtocolLabels:
    """Labels by elapsed device time since the first sample; the end of the protocol ends the recording."""

    def __init__(self, steps: list[tuple[str, float]], say):
        self.steps, self.say = steps, say
        self.ends = []
        total = 0.0
        for _, seconds in steps:
            total += seconds * 1000
            self.ends.append(total)
        self.start: float | None = None
        self.current = -1

    def label(self, timestamp: float) -> str:
        self.start = timestamp if self.start is None else self.start
        elapsed = timestamp - self.start
        step = next((i for i, end in enumerate(self.ends) if elapsed < end), None)
        if step is None:
            raise Stop("protocol finished")
        if step != self.current:
            self.current = step
            name, seconds = self.steps[step]
            self.say(f"now: {name or 'unlabelled'} for {seconds:g} s")
        return self.steps[step][0]


class KeyLabels:
    """Labels from single key presses on stdin (a terminal in cbreak mode, or a pipe)."""

    def __init__(self, labels: list[str], say):
        if not 1 <= len(labels) <= 9:
            raise ValueError("give 1 to 9 labels for keys 1-9")
        labels = [csv_field(label, "--labels: the label") for label in labels]
        self.labels, self.say, self.current = labels, say, ""
        self.say("keys: " + ", ".join(f"{i + 1}={n}" for i, n in enumerate(labels)) + ", 0=unlabelled, q=stop")

    def poll(self) -> None:
        while select.select([sys.stdin], [], [], 0)[0]:
            key = os.read(sys.stdin.fileno(), 1).decode(errors="replace")
            if key in ("", "q"):
                raise Stop("stopped by key")
            if key in "0 ":
                self.current = ""
            elif key.isdigit() and int(key) <= len(self.labels):
                self.current = self.labels[int(key) - 1]
            else:
                continue
            self.say(f"now: {self.current or 'unlabelled'}")

    def label(self, timestamp: float) -> str:
        self.poll()
        return self.current


class CsvWriter:
    """One recording file after another (a new one when the device clock goes back), flushed per row."""

    def __init__(self, out: Path, header: str, say):
        self.out, self.header, self.say = out, header, say
        self.part, self.handle, self.last = 0, None, None
        self.files: list[Path] = []
        self._next_file()

    def _next_file(self) -> None:
        """--out, then NAME-2.csv, NAME-3.csv, ...: the next name no file has (none is ever overwritten)."""
        if self.handle:
            self.handle.close()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        while True:
            self.part += 1
            path = self.out if self.part == 1 else self.out.with_name(f"{self.out.stem}-{self.part}{self.out.suffix}")
            try:
                self.handle = open(path, "x", buffering=1)  # line-buffered: every row reaches the file at once
                break
            except FileExistsError:
                if self.part == 1:
                    raise FileExistsError(f"{path} exists; choose another --out (recordings are never "
                                          "overwritten)") from None
        self.handle.write(self.header + "\n")
        self.files.append(path)
        self.last = None

    def write(self, timestamp: float, row: str) -> None:
        if self.last is not None and timestamp <= self.last:
            self.say(f"device clock went back ({self.last:g} -> {timestamp:g} ms): starting a new file")
            self._next_file()
        self.handle.write(row + "\n")
        self.last = timestamp

    def close(self) -> None:
        self.handle.close()


def record(lines, out: Path, subject: str, columns: list[str], units: list[str], labeler, say) -> dict:
    channels = [c for c in columns if c != TIMESTAMP]
    if TIMESTAMP not in columns:
        raise ValueError("the sensor lines need a timestamp_ms column: the recording keeps the device's timestamps")
    if len(units) != len(channels):
        raise ValueError(f"{len(units)} units for {len(channels)} channels {channels}")
    column_map = ColumnMap(columns, channels)
    header = ",".join([TIMESTAMP, *(f"{c}[{u}]" if u else c for c, u in zip(channels, units)), "activity", "subject"])
    writer = CsvWriter(out, header, say)
    counts, skipped, labels = Counter(), Counter(), Counter()
    reason = "end of input"
    try:
        for raw in lines:
            if raw is RECONNECTED:
                counts["reconnections"] += 1
                continue
            parsed = parse_line(raw, column_map)
            if isinstance(parsed, str):
                skipped[parsed] += 1
                continue
            timestamp, values = parsed
            label = labeler.label(timestamp)
            writer.write(timestamp, ",".join([exact(timestamp), *map(exact, values), label, subject]))
            counts["rows"] += 1
            labels[label or "(unlabelled)"] += 1
    except Stop as why:
        reason = str(why)
    finally:
        ignore_signals()  # the last rows and the summary are written whatever comes now
        writer.close()
    return {"files": [str(f) for f in writer.files], "rows": counts["rows"], "rows_per_label": dict(labels),
            "skipped_lines": dict(skipped), "reconnections": counts["reconnections"], "ended": reason}


def run(port: str, baud: int, out: str, subject: str, columns: list[str], units: list[str],
        protocol: str | None, labels: list[str] | None) -> dict:
    """Record until the end of the protocol, 'q', Ctrl-C or SIGTERM; the summary as a dict."""
    csv_field(subject, "--subject")
    check_port(port)
    for name in [*columns, *filter(None, units)]:
        csv_field(name, "--columns/--units: the name")
    install_stop_handlers()
    release_signals()  # a signal held since start-up is a Stop now

    def say(message: str) -> None:
        print(f"har record: {message}", file=sys.stderr, flush=True)

    labeler = ProtocolLabels(read_protocol(protocol), say) if protocol else KeyLabels(labels or [], say)
    if not protocol and sys.stdin is None:
        raise ValueError("--labels reads the keys from standard input, which is closed; give --protocol FILE")
    terminal = None
    if not protocol and sys.stdin.isatty():
        import termios
        import tty

        terminal = termios.tcgetattr(sys.stdin)
        tty.setcbreak(sys.stdin)
    try:
        say(f"recording {port} to {out} (subject {subject}); Ctrl-C stops")
        started = time.monotonic()
        summary = record(serial_lines(port, baud, say), Path(out), subject, columns, units, labeler, say)
        summary["seconds"] = round(time.monotonic() - started, 1)
        return summary
    finally:
        if terminal is not None:
            import termios

            termios.tcsetattr(sys.stdin, termios.TCSADRAIN, terminal)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The recorder's options, for `har record` and `python -m device_runtime.record` alike."""
    parser.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyACM0")
    parser.add_argument("--baud", type=int, default=115200, help="default 115200")
    parser.add_argument("--out", required=True, help="the CSV to write (never overwritten)")
    parser.add_argument("--subject", required=True, help="who is recorded (the subject column)")
    parser.add_argument("--labels", help="comma-separated activity names for keys 1-9")
    parser.add_argument("--protocol", help="a timed protocol file instead of keys")
    parser.add_argument("--columns", default=",".join(DEFAULT_COLUMNS), help="names of the fields of each line "
                        f"(default {','.join(DEFAULT_COLUMNS)})")
    parser.add_argument("--units", default=",".join(DEFAULT_UNITS), help="units of the channels, in order "
                        f"(default {','.join(DEFAULT_UNITS)})")


def run_from_args(args: argparse.Namespace) -> int:
    """Record as the options say and print the summary (JSON) on stdout. Exit status: 0, or 2 with one
    line on stderr for a refusal (no labels, an existing --out, a bad protocol file, a bad --baud)."""
    try:
        if not args.protocol and not args.labels:
            raise ValueError("give --labels walk,sit,... (keys 1-9 choose them) or --protocol FILE")
        if not 0 < args.baud <= MAX_BAUD:
            raise ValueError(f"--baud {args.baud}: give a baud rate from 1 to {MAX_BAUD:,}")
        summary = run(args.port, args.baud, args.out, args.subject, args.columns.split(","), args.units.split(","),
                      args.protocol, args.labels.split(",") if args.labels else None)
    except Stop as why:
        print(f"har record: {why} before recording began", file=sys.stderr)
        return 0
    except (ValueError, OSError) as error:
        message = f"{error.filename}: {error.strerror}" if isinstance(error, OSError) and error.filename else str(error)
        print(f"har record: error: {message}", file=sys.stderr)
        return 2
    try:
        Outputs().write(json.dumps(summary, indent=2))
    except OutputError as error:
        print(f"har record: error: {error}; the recording is in {', '.join(summary['files'])}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m device_runtime.record", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
