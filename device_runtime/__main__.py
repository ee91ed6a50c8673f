"""python -m device_runtime: classify human activity on a Raspberry Pi from sensor lines.

Needs only numpy, pyserial (for --port) and a TensorFlow Lite interpreter (ai-edge-litert, else
tflite-runtime, else tensorflow). Everything about the input (channels and their order, units, sample rate,
window, stride, normalisation, int8 quantization, class names) is read from the model file.
"""
from __future__ import annotations

import argparse
import json
import resource
import signal
import sys
import time
from collections import Counter
from pathlib import Path

from device_runtime.interpreter import Classifier
from device_runtime.line_parser import TIMESTAMP, ColumnMap, header_columns, parse_line
from device_runtime.contract import load_contract
from device_runtime.model_file import ModelError
from device_runtime.smoothing import DEFAULT_VOTES, EmaHysteresis, MajorityVote
from device_runtime.sources import RECONNECTED, file_lines, serial_lines, stdin_lines
from device_runtime.stream import WindowStream

EPILOG = """\
input lines:
  CSV, one sample per line, e.g. from the sensor streamer: "timestamp_ms,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z".
  --columns names every field in order; fields named like the model's channels are used, "timestamp_ms" is
  the timestamp (optional: without it, samples are taken to arrive at the model's rate), other names are
  ignored. A header line with the names is also understood. Values must be in the model's units.
  Broken lines (wrong field count, not numbers, NaN/inf, not UTF-8, longer than 1 KiB) are counted and skipped.

output:
  one JSON line per prediction on stdout: {"t_ms", "start_ms", "class", "confidence", "window_class",
  "invoke_ms", "latency_ms"}; "class" is smoothed, "window_class" is the window's own argmax. On exit
  (end of input, Ctrl-C or SIGTERM) a JSON summary goes to stderr.

examples:
  python -m device_runtime --model model.tflite --port /dev/ttyUSB0 --baud 115200
  python -m device_runtime --model model.tflite --replay walk.csv --realtime
  sensor_reader | python -m device_runtime --model model.tflite --stdin --smoothing ema
"""


class Stop(Exception):
    """Raised by the SIGTERM/SIGINT handler to leave the loop cleanly."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m device_runtime", description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="the .tflite made by `har convert` (contract inside)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--port", help="serial device, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    source.add_argument("--replay", metavar="CSV", help="a recorded CSV file, replayed")
    source.add_argument("--stdin", action="store_true", help="read lines from standard input")
    parser.add_argument("--baud", type=int, default=115200, help="serial baud rate (default 115200)")
    parser.add_argument("--realtime", action="store_true",
                        help="replay at the recording's pace (default: as fast as possible)")
    parser.add_argument("--columns", help="comma-separated name of every field of a line "
                        "(default: timestamp_ms followed by the model's channels, or the file's header)")
    parser.add_argument("--smoothing", choices=["vote", "ema", "none"], default="vote",
                        help="vote: majority over --votes windows (default); ema: moving average with hysteresis")
    parser.add_argument("--votes", type=int, default=DEFAULT_VOTES, help=f"windows in the vote (default {DEFAULT_VOTES})")
    parser.add_argument("--ema-alpha", type=float, default=0.5, help="EMA weight of the newest window (default 0.5)")
    parser.add_argument("--hysteresis", type=float, default=0.1,
                        help="EMA: a new class must lead the current one by this probability (default 0.1)")
    parser.add_argument("--max-gap-ms", type=float,
                        help="a larger jump between timestamps restarts the window (default 2.5 sample periods)")
    parser.add_argument("--output", help="also append every prediction (JSON lines) to this file")
    parser.add_argument("--interpreter", choices=["litert", "tflite-runtime", "tf.lite"],
                        help="force one interpreter (default: the first installed, in this order)")
    parser.add_argument("--threads", type=int, default=1, help="interpreter threads (default 1)")
    parser.add_argument("--xnnpack", action="store_true",
                        help="use the XNNPACK delegate (faster on large models; may differ from the validated "
                        "reference kernels by one LSB). Default: the reference kernels that model.report.md validated")
    return parser


def make_smoother(args: argparse.Namespace):
    if args.smoothing == "ema":
        return EmaHysteresis(args.ema_alpha, args.hysteresis)
    return MajorityVote(args.votes if args.smoothing == "vote" else 1)


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


def log(message: str) -> None:
    print(f"device_runtime: {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        contract = load_contract(args.model)
        classifier = Classifier(args.model, contract, args.interpreter, args.threads, args.xnnpack)
        columns = ColumnMap(
            args.columns.split(",") if args.columns else [TIMESTAMP, *contract.channels], contract.channels
        )
    except (ModelError, ValueError) as error:
        log(f"error: {error}")
        return 2
    log(f"model {Path(args.model).name}: {len(contract.class_names)} classes, window {contract.window} "
        f"samples every {contract.stride} at {contract.sample_rate_hz:g} Hz; interpreter: {classifier.interpreter_name}")

    stream = WindowStream(classifier, contract, make_smoother(args), args.max_gap_ms, log)
    if args.port:
        lines = serial_lines(args.port, args.baud, log)
    elif args.replay:
        try:
            lines = file_lines(open(args.replay, "rb"))
        except OSError as error:
            log(f"error: cannot read {args.replay}: {error}")
            return 2
    else:
        lines = stdin_lines()
    output = open(args.output, "a", buffering=1) if args.output else None

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    counts = Counter()
    skipped = Counter()
    pace_origin = None
    started = time.perf_counter()
    try:
        for raw in lines:
            if raw is RECONNECTED:
                counts["reconnections"] += 1
                stream.reset()
                continue
            received = time.perf_counter()
            counts["lines"] += 1
            parsed = parse_line(raw, columns)
            if isinstance(parsed, str):
                names = header_columns(raw) if counts["lines"] == 1 and not args.columns else None
                if names is not None:
                    columns = ColumnMap(names, contract.channels)
                    counts["header lines"] += 1
                else:
                    skipped[parsed] += 1
                continue
            timestamp, sample = parsed
            if args.realtime:
                moment = timestamp if timestamp is not None else counts["samples"] * stream.period_ms
                pace_origin = pace_origin or (received - moment / 1000.0)
                delay = pace_origin + moment / 1000.0 - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                received = time.perf_counter()
            counts["samples"] += 1
            prediction = stream.push(timestamp, sample)
            if prediction is None:
                continue
            prediction["latency_ms"] = round((time.perf_counter() - received) * 1000, 3)
            line = json.dumps(prediction)
            print(line, flush=True)
            if output:
                output.write(line + "\n")
            counts["predictions"] += 1
    except Stop:
        log("stopped by signal")
    except ValueError as error:  # a header that lacks the model's channels
        log(f"error: {error}")
        return 2
    finally:
        elapsed = time.perf_counter() - started
        summary = {
            "lines_read": counts["lines"], "samples": counts["samples"], "predictions": counts["predictions"],
            "skipped": dict(skipped), "stream_events": dict(stream.events),
            "reconnections": counts["reconnections"], "seconds": round(elapsed, 3),
            "measured_rate_hz": stream.measured_rate_hz and round(stream.measured_rate_hz, 2),
            "interpreter": classifier.interpreter_name,
            "max_rss_mb": peak_memory_mb(),
        }
        print(json.dumps({"summary": summary}), file=sys.stderr, flush=True)
        if output:
            output.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
