"""`har convert`: its options and what it runs."""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from train.qat import EPOCHS as QAT_EPOCHS


def cmd_convert(args: argparse.Namespace) -> int:
    from convert.pipeline import convert_run
    from convert.publish import ConversionError, report_path

    if args.qat and args.qat_epochs < 1:
        raise ValueError(f"--qat-epochs {args.qat_epochs}: give at least 1")
    try:
        report = convert_run(args.run, args.out, args.mode, args.target, args.representative, args.max_drop,
                             per_channel=args.per_channel, checkpoint=args.checkpoint,
                             max_class_drop=args.max_class_drop, max_mae_increase=args.max_mae_increase,
                             qat_epochs=args.qat_epochs if args.qat else 0)
    except ConversionError as error:
        print(f"har convert: {error}", file=sys.stderr)
        return 1
    key = "int8" if "int8" in report else "tflite"
    if "baseline_mean_predictor" in report:
        print(regression_line(args.out, report, key))
        print(f"report: {report_path(Path(args.out), 'md')}")
        return 0
    line = (
        f"{args.out}: {report['size_bytes']:,} bytes, float {100 * report['float']['accuracy']:.2f}% -> "
        f"{key} {100 * report[key]['accuracy']:.2f}%"
    )
    if "tflm" in report:
        line += f", TFLM {100 * report['tflm']['accuracy']:.2f}% with a {report['arena_bytes']:,}-byte arena"
    print(line)
    print(f"report: {report_path(Path(args.out), 'md')}")
    return 0


def regression_line(out: str, report: dict, key: str) -> str:
    """One line of MAE figures for a regression model."""
    unit = report["unit"]
    line = f"{out}: {report['size_bytes']:,} bytes, MAE float {report['float']['mae']:.3f} -> {key} {report[key]['mae']:.3f}"
    if "tflm" in report:
        line += f", TFLM {report['tflm']['mae']:.3f}"
    return line + f" {unit} (mean predictor {report['baseline_mean_predictor']['mae']:.3f})"


def _limit(text: str) -> float:
    """A guard's limit: a finite number >= 0 (NaN had switched the guard off, as no drop is above NaN)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number >= 0")
    return value


def register(stages) -> None:
    """Add this stage's subcommand to har's parser."""
    convert = stages.add_parser(
        "convert",
        help="turn a trained run into a validated .tflite",
        description="Convert a trained run to TensorFlow Lite: full-integer int8 by default, calibrated on "
        "representative training windows (stratified by class and subject; never validation or test windows). "
        "The preprocessing contract, with the int8 scale and zero point, is embedded in the model's metadata and "
        "written beside it as MODEL.contract.json. The model is then scored on the test subjects as float, with "
        "LiteRT and with TensorFlow Lite Micro on the host, and MODEL.report.json / .md are written; all files of "
        "one conversion are replaced together, and a second conversion to the same --out is refused while one "
        "runs. Conversion fails (exit 1, no model written, an existing one kept, the report written as "
        "MODEL.rejected.report.json / .md) when the converted model's accuracy or macro-F1 drops more than "
        "--max-drop points, or any class's recall more than --max-class-drop points, below float, or when a "
        "microcontroller target gets a model TFLM cannot run. The report also shows per-class recall float vs "
        "converted, the share of int8 inputs saturated at -128/127, per-subject accuracy and the robustness of "
        "the converted model to sensor errors and rotations. Bad inputs end with exit 2.",
    )
    convert.add_argument("run", help="a run folder (runs/NAME) or its model.keras")
    convert.add_argument("--checkpoint", choices=["final", "best"], default="final",
                         help="final: model.keras (default); best: checkpoints/best.keras, the best validation epoch")
    convert.add_argument("--out", default="model.tflite", help="the .tflite to write (default model.tflite)")
    convert.add_argument("--mode", choices=["int8", "float32", "float16", "dynamic"], default="int8",
                         help="int8: full integer (default); float16 and dynamic-range only for --target pi")
    convert.add_argument("--target", choices=["mcu", "pi"], default="mcu",
                         help="mcu: must run on TensorFlow Lite Micro (default); pi: LiteRT on a Raspberry Pi")
    convert.add_argument("--representative", type=int, default=300, help="calibration windows (default 300)")
    convert.add_argument("--max-drop", type=_limit, default=1.0,
                         help="most accuracy and macro-F1 points the converted model may lose against float (default 1.0)")
    convert.add_argument("--max-class-drop", type=_limit, default=3.0,
                         help="most recall points any one class may lose against float (default 3.0)")
    convert.add_argument("--max-mae-increase", type=_limit, default=5.0, metavar="PERCENT",
                         help="regression: how far the converted MAE may exceed the float MAE, in percent (default 5)")
    convert.add_argument("--per-channel", action="store_true",
                         help="int8 weights with a scale per output channel (default: one per tensor, smaller)")
    convert.add_argument("--qat", action="store_true",
                         help="quantization-aware fine-tuning first: the trained model learns with int8 fake "
                         "quantization on its training split for --qat-epochs, then converts (int8 only)")
    convert.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS, help=f"--qat: fine-tuning epochs (default {QAT_EPOCHS})")
    convert.set_defaults(func=cmd_convert)
