"""python -m device_runtime: classify human activity on a Raspberry Pi from sensor lines.

Needs only numpy, pyserial (for --port) and a TensorFlow Lite interpreter (ai-edge-litert, else
tflite-runtime, else tensorflow). Everything about the input (channels and their order, units, sample rate,
window, stride, normalisation, int8 quantization, class names) is read from the model file.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from device_runtime.contract import Contract, load_contract, sidecar_path
from device_runtime.contract_checks import is_number
from device_runtime.interpreter import Classifier
from device_runtime.line_parser import (MAX_ABS_TIMESTAMP_MS, MAX_ABS_VALUE, TIMESTAMP, ColumnMap, split_unit,
                                        unit_mismatch)
from device_runtime.model_file import ModelError
from device_runtime.outputs import OutputError, Outputs, open_output
from device_runtime.runtime import Runtime
from device_runtime.signals import Stop, ignore_signals, install_stop_handlers
from device_runtime.smoothing import (DEFAULT_ALPHA, DEFAULT_HYSTERESIS, DEFAULT_VOTES, make_smoother,
                                      make_value_smoother)
from device_runtime.sources import MAX_BAUD, check_port, file_lines, replay_file, serial_lines, stdin_lines
from device_runtime.stream import WindowStream

EPILOG = f"""\
input lines:
  CSV, one sample per line, e.g. from the sensor streamer: "timestamp_ms,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z".
  --columns names every field in order; fields named like the model's channels are used, "timestamp_ms" is
  the timestamp (optional: without it, samples are taken to arrive at the model's rate), other names are
  ignored. Without --columns, a line naming all the model's channels is taken as a header. Values must be in
  the model's units: a header (or --columns) giving a unit in brackets, "acc_x[g]", that disagrees with the
  model's is refused; a header without units is taken on trust. Lines end with LF, CR LF or CR.
  No other input line stops the runtime: banners and comments, headers without the model's channels, broken lines
  (wrong field count, not numbers, NaN/inf, not UTF-8, longer than 1 KiB), values beyond +-{MAX_ABS_VALUE:,.0f}
  (no IMU reports such values; they would overflow float32 arithmetic) and timestamps beyond
  +-{MAX_ABS_TIMESTAMP_MS:g} ms are counted and skipped, the first three of each reason logged.

output:
  one JSON line per prediction on stdout: {{"t_ms", "start_ms", "class", "confidence", "window_class",
  "window_confidence", "invoke_ms", "latency_ms"}}. "class" is smoothed and "confidence" is how sure the
  smoothing is of it: its share of the votes (vote), its moving-average probability (ema), or the window's
  probability (none). "window_class" is the window's own argmax and "window_confidence" its probability.
  A regression model prints {{"t_ms", "start_ms", "value", "unit", "window_value", "invoke_ms", "latency_ms"}}
  instead: "value" in the target's unit ("unit"), the mean (default) or median of the last --votes windows'
  values (--smoothing mean|median|none), and "window_value" the window's own.
  On exit (end of input, Ctrl-C or SIGTERM, at any moment) a JSON summary goes to stderr; further signals
  are then ignored.

exit status:
  0 at the end of the input or on a signal; 2 for a refusal (a bad option, a model or input file that
  cannot be used, a header in other units than the model's) or when the predictions cannot be written (a
  full disk, a closed stdout), with a message.

examples:
  python -m device_runtime --model model.tflite --port /dev/ttyUSB0 --baud 115200
  python -m device_runtime --model model.tflite --replay walk.csv --realtime
  sensor_reader | python -m device_runtime --model model.tflite --stdin --smoothing ema
"""


def _positive(kind: type, limit: float):
    """An argparse type: a finite number of `kind` in (0, limit]."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not is_number(value) or not 0 < value <= limit:  # an integer of 400 digits too
            raise argparse.ArgumentTypeError(f"{text} is out of range; give a value in (0, {limit:g}]")
        return value
    return convert


def _finite(text: str) -> float:
    """An argparse type: any finite number (the smoother checks the range and says which)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


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
    parser.add_argument("--baud", type=_positive(int, MAX_BAUD), default=115200,
                        help="serial baud rate (default 115200)")
    parser.add_argument("--realtime", action="store_true", help="replay at the recording's pace (default: as "
                        "fast as possible); a gap that restarts the window is not waited for")
    parser.add_argument("--columns", help="comma-separated name of every field of a line "
                        "(default: timestamp_ms followed by the model's channels, or the stream's header)")
    parser.add_argument("--smoothing", choices=["vote", "ema", "mean", "median", "none"],
                        help="classifier: vote, majority over --votes windows (default), or ema, moving average "
                        "with hysteresis; regression: mean (default) or median of the last --votes windows' values")
    parser.add_argument("--votes", type=int, default=DEFAULT_VOTES,
                        help=f"windows in the vote, or in the regression mean/median (default {DEFAULT_VOTES})")
    parser.add_argument("--ema-alpha", type=_finite, default=DEFAULT_ALPHA,
                        help=f"EMA weight of the newest window, in (0, 1] (default {DEFAULT_ALPHA})")
    parser.add_argument("--hysteresis", type=_finite, default=DEFAULT_HYSTERESIS,
                        help=f"EMA: a new class must lead the current one by this probability (default {DEFAULT_HYSTERESIS})")
    parser.add_argument("--max-gap-ms", type=_positive(float, 1e9),
                        help="a larger jump between timestamps restarts the window (default 2.5 sample periods)")
    parser.add_argument("--output", help="also append every prediction (JSON lines) to this file")
    parser.add_argument("--interpreter", choices=["litert", "tflite-runtime", "tf.lite"],
                        help="force one interpreter (default: the first installed, in this order)")
    parser.add_argument("--threads", type=_positive(int, 64), default=1, help="interpreter threads (default 1)")
    parser.add_argument("--xnnpack", action="store_true",
                        help="use the XNNPACK delegate (faster on large models; may differ from the validated "
                        "reference kernels by one LSB). Default: the reference kernels that model.report.md validated")
    return parser


def _stderr(text: str) -> None:
    """A line on stderr; one that cannot be written (stderr closed or full) is not worth stopping for."""
    if sys.stderr is None:  # started with stderr closed: print(file=None) would write to stdout
        return
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def log(message: str) -> None:
    _stderr(f"device_runtime: {message}")


def _columns(args: argparse.Namespace, contract: Contract) -> ColumnMap:
    if not args.columns:
        return ColumnMap([TIMESTAMP, *contract.channels], contract.channels)
    fields = [c.strip() for c in args.columns.split(",")]
    problem = unit_mismatch(dict(map(split_unit, fields)), contract.channels, contract.units)
    if problem:
        raise ValueError(f"--columns: {problem}")
    try:
        return ColumnMap([split_unit(f)[0] for f in fields], contract.channels)
    except ValueError as error:
        raise ValueError(f"--columns: {error}") from None


def _lines(args: argparse.Namespace):
    if args.port:
        check_port(args.port)
        return serial_lines(args.port, args.baud, log)
    if args.stdin:
        if sys.stdin is None:
            raise ValueError("--stdin: standard input is closed")
        return stdin_lines()
    return file_lines(replay_file(args.replay))


def start(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Runtime, object]:
    """Everything checked before the first line is read: options, model, columns, input, output."""
    contract = load_contract(args.model)
    regression = contract.task == "regression"
    kind = args.smoothing or ("mean" if regression else "vote")
    try:
        smoother = (make_value_smoother(kind, args.votes) if regression
                    else make_smoother(kind, args.votes, args.ema_alpha, args.hysteresis))
    except ValueError as error:
        parser.error(f"--smoothing {kind}: {error}")
    classifier = Classifier(args.model, contract, args.interpreter, args.threads, args.xnnpack)
    columns = _columns(args, contract)
    lines = _lines(args)
    outputs = open_output(args.output, [args.model, str(sidecar_path(args.model)), args.replay or ""]) if args.output else Outputs()
    what = f"regression of {contract.class_names[0]} [{contract.target_unit}]" if regression else \
        f"{len(contract.class_names)} classes"
    log(f"model {args.model}: {what}, window {contract.window} samples every "
        f"{contract.stride} at {contract.sample_rate_hz:g} Hz; interpreter: {classifier.interpreter_name}")
    stream = WindowStream(classifier, contract, smoother, args.max_gap_ms, log)
    return Runtime(stream, columns, bool(args.columns), outputs, args.realtime, log, contract.units), lines


def main(argv: list[str] | None = None) -> int:
    """Exit status 0 at the end of the input or on a signal, 2 for a refusal or outputs that fail."""
    install_stop_handlers()
    parser = build_parser()
    runtime, code = None, 0
    try:
        try:
            args = parser.parse_args(argv)
            runtime, lines = start(args, parser)
            runtime.run(lines)
        finally:
            ignore_signals()  # whatever ended it, nothing cuts the summary short
    except Stop as why:
        log(str(why) if runtime else f"{why} during start-up")
    except (ModelError, ValueError, OutputError) as error:
        log(f"error: {error}")
        code = 2
    except OSError as error:  # the input's reads, or at start-up a file an option names (outputs raise OutputError)
        what = "cannot read the input" if runtime else f"cannot use {error.filename}" if error.filename else "start-up"
        log(f"error: {what}: {error.strerror or error}")
        code = 2
    return _finish(runtime, code)


def _finish(runtime: Runtime | None, code: int) -> int:
    if runtime is None:
        return code
    try:
        runtime.outputs.close()
    except OutputError as error:
        log(f"error: {error}")
        code = 2
    _stderr(json.dumps({"summary": runtime.summary()}))
    return code
