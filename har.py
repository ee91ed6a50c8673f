"""`har`: the toolchain's command line, one subcommand per stage (data, train, evaluate, convert, ...).

Each stage is imported only when its subcommand runs, so `har data` starts without TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EPILOG = "Run `har COMMAND --help` for the options of each stage."


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (defaults: the UCI HAPT recordings embedded in the repository)")
    group.add_argument("--data", metavar="PATH", help="a dataset folder or file (default: embedded HAPT)")
    group.add_argument(
        "--format",
        choices=["hapt", "csv", "wisdm", "pamap2"],
        help="hapt: UCI HAPT RawData layout; csv: timestamp_ms,<channels>,activity[,subject]; "
        "wisdm: WISDM v1.1 raw; pamap2: PAMAP2 protocol .dat files (default: hapt)",
    )
    group.add_argument("--config", metavar="TOML", help="read the [data] table of this config file")
    group.add_argument("--window", help="window length in samples, or seconds as 2.56s (default 128)")
    group.add_argument("--stride", help="samples (or seconds) between window starts (default 64)")
    group.add_argument("--classes", help="comma-separated source labels to keep (default: HAPT's six activities)")
    group.add_argument("--test-subjects", help="comma-separated subjects held out for testing")
    group.add_argument("--validation-subjects", help="comma-separated subjects for validation")
    group.add_argument("--resample-hz", type=float, help="CSV: resample every recording to this rate")
    group.add_argument("--skip-bad-rows", action="store_true", help="CSV: count and skip malformed rows")


def config_from_args(args: argparse.Namespace) -> dict:
    """The config file's tables ([data], [model], [train]), overridden by options given on the command line."""
    from train.config import SECTIONS, load_config

    config = load_config(args.config) if args.config else {section: {} for section in SECTIONS}
    data = config["data"]
    for key in ("format", "resample_hz"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.data:
        data["path"] = args.data
        data.setdefault("format", "hapt")
    for key in ("window", "stride"):
        value = getattr(args, key)
        if value is not None:
            data[key] = value if value.endswith("s") else int(value)
    for key in ("classes", "test_subjects", "validation_subjects"):
        value = getattr(args, key)
        if value is not None:
            data[key] = [v.strip() for v in value.split(",") if v.strip()]
    if args.skip_bad_rows:
        data["skip_bad_rows"] = True
    for assignment in getattr(args, "set", None) or []:
        key, _, value = assignment.partition("=")
        section, _, name = key.partition(".")
        if section not in SECTIONS or not name or not _:
            raise ValueError(f"--set expects SECTION.KEY=VALUE with SECTION one of {SECTIONS}, not '{assignment}'")
        config[section][name] = _parse_value(value)
    return config


def _parse_value(text: str):
    """A --set value as TOML would read it (numbers, booleans, strings, lists), else the plain string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def data_config_from_args(args: argparse.Namespace):
    from train.dataset import DataConfig

    return DataConfig.from_dict(config_from_args(args)["data"])


def cmd_data_summary(args: argparse.Namespace) -> int:
    import time

    from train.dataset import format_summary, prepare

    start = time.perf_counter()
    prepared = prepare(data_config_from_args(args))
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps(prepared.summary, indent=2))
    else:
        print(format_summary(prepared.summary))
        print(f"\nloaded and windowed in {elapsed:.1f} s")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if args.model and args.model != config["model"].get("family", "cnn"):
        # The config's [model] settings belong to its own family: start from the new family's defaults.
        print(f"har train: --model {args.model}: using {args.model}'s default settings instead of the config's [model]",
              file=sys.stderr)
        config["model"] = {}
    for key, section, name in (
        ("model", "model", "family"), ("epochs", "train", "epochs"), ("seed", "train", "seed"),
        ("batch_size", "train", "batch_size"), ("learning_rate", "train", "learning_rate"),
        ("target_column", "data", "target_column"),
    ):
        if getattr(args, key) is not None:
            config[section][name] = getattr(args, key)
    if args.task == "regression" and not config["data"].get("target_column"):
        raise ValueError("--task regression needs --target-column (a numeric column of the CSV files)")
    if args.task == "classification" and config["data"].get("target_column"):
        raise ValueError("a target column trains a regression model: pass --task regression")

    from train.evaluate import evaluate_run
    from train.fit import RunConfig, train_run

    run_config = RunConfig.from_dict(config)
    name = args.name or f"{run_config.family}-seed{run_config.train.seed}"
    run = train_run(run_config, name, Path(args.runs), overwrite=args.overwrite)
    metrics = evaluate_run(run)
    print(f"\n{run}: " + _headline(metrics))
    print(f"report: {run / 'evaluation' / 'report.md'}; TensorBoard: tensorboard --logdir {run / 'logs'}")
    return 0


def _headline(metrics: dict) -> str:
    if "mae" in metrics:
        return f"test MAE {metrics['mae']:.4f}, RMSE {metrics['rmse']:.4f}"
    line = f"test accuracy {100 * metrics['accuracy']:.2f}%, macro-F1 {metrics['macro_f1']:.4f}"
    return line + (f", {metrics['params']:,} parameters" if metrics.get("params") else "")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from train.evaluate import evaluate_run, evaluate_tflite

    if args.run.endswith(".tflite"):
        out = Path(args.out or Path(args.run).with_suffix("").name + "_evaluation")
        metrics = evaluate_tflite(args.run, data_config_from_args(args), out)
    else:
        metrics = evaluate_run(args.run)
        out = Path(args.run) / "evaluation"
    print(Path(args.run).name + ": " + _headline(metrics))
    print((out / "report.md").read_text())
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from train.record import run

    if not args.protocol and not args.labels:
        raise ValueError("give --labels walk,sit,... (keys 1-9 choose them) or --protocol FILE")
    summary = run(args.port, args.baud, args.out, args.subject, args.columns.split(","), args.units.split(","),
                  args.protocol, args.labels.split(",") if args.labels else None)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate_stream(args: argparse.Namespace) -> int:
    from train.evaluate_stream import evaluate_stream

    report = evaluate_stream(args.model, data_config_from_args(args), args.out)
    d = report["default"]
    print(f"{args.model}, {d['smoothing']}: accuracy {100 * d['accuracy']:.2f}%, {d['flips_per_minute']:.2f} flips/min, "
          f"median delay {d['delay_ms_median'] / 1000:.2f} s, event macro-F1 {d['event_macro_f1']:.3f}")
    print(f"report: {Path(args.out) / 'stream_report.md'}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from convert.pipeline import convert_run, report_path
    from convert.quantize import ConversionError

    try:
        report = convert_run(
            args.run, args.out, args.mode, args.target, args.representative, args.max_drop, per_channel=args.per_channel
        )
    except ConversionError as error:
        print(f"har convert: {error}", file=sys.stderr)
        return 1
    key = "int8" if "int8" in report else "tflite"
    line = (
        f"{args.out}: {report['size_bytes']:,} bytes, float {100 * report['float']['accuracy']:.2f}% -> "
        f"{key} {100 * report[key]['accuracy']:.2f}%"
    )
    if "tflm" in report:
        line += f", TFLM {100 * report['tflm']['accuracy']:.2f}% with a {report['arena_bytes']:,}-byte arena"
    print(line)
    print(f"report: {report_path(Path(args.out), 'md')}")
    return 0


def cmd_firmware(args: argparse.Namespace) -> int:
    from firmware_gen.generate import FirmwareError, generate

    try:
        written = generate(args.model, args.out, args.prefix)
    except FirmwareError as error:
        print(f"har firmware: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="har",
        description="Human activity recognition from IMU recordings to a microcontroller or Raspberry Pi.",
        epilog=EPILOG,
    )
    stages = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    data = stages.add_parser("data", help="inspect a dataset", description="Inspect a dataset.")
    data_cmds = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    summary = data_cmds.add_parser(
        "summary",
        help="windows per class and subject for each split, sample rate, drops and why",
        description="Load, window and split a dataset exactly as training will, and report what came out: "
        "windows per class and per subject for each split, the sample rate found, and every row or window "
        "dropped with its reason.",
    )
    add_data_options(summary)
    summary.add_argument("--json", action="store_true", help="print the summary as JSON")
    summary.set_defaults(func=cmd_data_summary)

    train = stages.add_parser(
        "train",
        help="train a model into runs/NAME/",
        description="Train one model. Every hyperparameter lives in the config file (--config; [data], [model], "
        "[train] tables, see configs/default.toml); options here override it. The run folder gets the resolved "
        "config, the preprocessing contract, the data summary, checkpoints (best by validation macro-F1, or "
        "every epoch), TensorBoard logs and, at the end, the test-subject evaluation. Rerunning the same "
        "command after a crash or Ctrl-C resumes from the last completed epoch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  har train --config configs/default.toml\n  har train --model lstm --epochs 30 --name lstm\n"
        "  har train --set model.filters=[16,32,32] --set train.class_weights='none'\n"
        "  har train --data recordings/ --format csv --task regression --target-column speed",
    )
    add_data_options(train)
    group = train.add_argument_group("model and training")
    group.add_argument("--model", choices=["cnn", "mlp", "lstm", "convlstm"], help="model family (default cnn)")
    group.add_argument("--name", help="run name, the folder under --runs (default FAMILY-seedN)")
    group.add_argument("--runs", default="runs", help="folder of all runs (default runs/)")
    group.add_argument("--epochs", type=int, help="epochs (default 100; early stopping, if switched on, may end sooner)")
    group.add_argument("--batch-size", type=int, help="default 32")
    group.add_argument("--learning-rate", type=float, help="Adam's initial rate, cosine-decayed (default 0.002)")
    group.add_argument("--seed", type=int, help="seed for weights, shuffling and augmentation (default 0)")
    group.add_argument("--task", choices=["classification", "regression"], default="classification",
                       help="regression predicts the window mean of --target-column (CSV data)")
    group.add_argument("--target-column", help="regression: the numeric CSV column to predict")
    group.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                       help="override any config value, e.g. --set train.patience=30 (repeatable)")
    group.add_argument("--overwrite", action="store_true",
                       help="replace a finished run of the same name (an interrupted run of the same config resumes)")
    train.set_defaults(func=cmd_train)

    evaluate = stages.add_parser(
        "evaluate",
        help="score a run or a .tflite on the test subjects",
        description="Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (JSON, PNG, text) "
        "on the test subjects, with a Markdown report: of a trained run (written to RUN/evaluation/), or of a "
        ".tflite run with the device runtime's interpreter and its embedded contract (on the data options' "
        "test subjects, the embedded HAPT by default).",
    )
    evaluate.add_argument("run", help="a run folder (runs/NAME), its model.keras, or a .tflite")
    evaluate.add_argument("--out", help="for a .tflite: the report folder (default MODEL_evaluation/)")
    add_data_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    from train.record import DEFAULT_COLUMNS, DEFAULT_UNITS

    record = stages.add_parser(
        "record",
        help="record labelled sensor data over serial to the CSV format",
        description="Record a sensor that prints `timestamp_ms,ax,ay,az,gx,gy,gz` lines (the sensor_streamer.ino "
        "that `har firmware` generates does) into the generic CSV format, with the device's timestamps, a "
        "subject id, and labels given while recording: keys 1-9 pick one of --labels (0 or space: unlabelled, "
        "q: stop), or a --protocol file times them. Rows are flushed as they arrive: Ctrl-C, a crash or an "
        "unplugged cable loses nothing (the port is reopened with backoff). Broken lines are counted and skipped.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="protocol file: one step per line, LABEL SECONDS, '-' for unlabelled, e.g.\n  walk 60 s\n  - 5 s\n  sit 30 s\n\n"
        "examples:\n  har record --port /dev/ttyACM0 --out data/me/walk1.csv --subject me --labels walk,sit,stand\n"
        "  har record --port /dev/ttyACM0 --out data/me/p1.csv --subject me --protocol protocol.txt",
    )
    record.add_argument("--port", required=True, help="serial device, e.g. /dev/ttyACM0")
    record.add_argument("--baud", type=int, default=115200, help="default 115200")
    record.add_argument("--out", required=True, help="the CSV to write (never overwritten)")
    record.add_argument("--subject", required=True, help="who is recorded (the subject column)")
    record.add_argument("--labels", help="comma-separated activity names for keys 1-9")
    record.add_argument("--protocol", help="a timed protocol file instead of keys")
    record.add_argument("--columns", default=",".join(DEFAULT_COLUMNS), help="names of the fields of each line "
                        f"(default {','.join(DEFAULT_COLUMNS)})")
    record.add_argument("--units", default=",".join(DEFAULT_UNITS), help="units of the channels, in order "
                        f"(default {','.join(DEFAULT_UNITS)})")
    record.set_defaults(func=cmd_record)

    stream = stages.add_parser(
        "evaluate-stream",
        help="replay whole test recordings through the device runtime and score what a user feels",
        description="Feed every test-subject recording, sample by sample, through the device runtime's own "
        "windowing and smoothing with the .tflite, and report accuracy over time, label flips per minute, the "
        "delay from an activity change to the new label and event-level F1 per class, with a timeline plot; "
        "then sweep the smoothing settings (majority vote length, EMA and hysteresis) and plot flips per "
        "minute against delay. Writes stream_report.json/.md, timeline.png and smoothing_sweep.png to --out.",
    )
    stream.add_argument("model", help="the .tflite (with its embedded contract)")
    stream.add_argument("--out", default="stream_eval", help="output folder (default stream_eval/)")
    add_data_options(stream)
    stream.set_defaults(func=cmd_evaluate_stream)

    convert = stages.add_parser(
        "convert",
        help="turn a trained run into a validated .tflite",
        description="Convert a trained run to TensorFlow Lite: full-integer int8 by default, calibrated on "
        "representative training windows (stratified by class and subject; never validation or test windows). "
        "The preprocessing contract, with the int8 scale and zero point, is embedded in the model's metadata and "
        "written beside it as MODEL.contract.json. The model is then scored on the test subjects as float, with "
        "LiteRT and with TensorFlow Lite Micro on the host, and MODEL.report.json / .md are written. Conversion "
        "fails (exit 1, no model written) when the int8 accuracy drops more than --max-drop points, or when a "
        "microcontroller target gets a model TFLM cannot run.",
    )
    convert.add_argument("run", help="a run folder (runs/NAME) or its model.keras")
    convert.add_argument("--out", default="model.tflite", help="the .tflite to write (default model.tflite)")
    convert.add_argument("--mode", choices=["int8", "float32", "float16", "dynamic"], default="int8",
                         help="int8: full integer (default); float16 and dynamic-range only for --target pi")
    convert.add_argument("--target", choices=["mcu", "pi"], default="mcu",
                         help="mcu: must run on TensorFlow Lite Micro (default); pi: LiteRT on a Raspberry Pi")
    convert.add_argument("--representative", type=int, default=300, help="calibration windows (default 300)")
    convert.add_argument("--max-drop", type=float, default=1.0,
                         help="most accuracy points the converted model may lose against float (default 1.0)")
    convert.add_argument("--per-channel", action="store_true",
                         help="int8 weights with a scale per output channel (default: one per tensor, smaller)")
    convert.set_defaults(func=cmd_convert)

    firmware = stages.add_parser(
        "firmware",
        help="generate TFLM C/C++ sources from a .tflite",
        description="Render C/C++ sources for TensorFlow Lite Micro from an int8 .tflite made by `har convert`: "
        "model_data.h/.cc (the model as an aligned const array), model_settings.h (classes, window, stride, "
        "rate, channels, normalisation, int8 scale/zero-point, tensor arena size), op_resolver.h (exactly the "
        "ops used) and main.cc (a portable example application). Everything is read from the model file.",
    )
    firmware.add_argument("model", help="the .tflite (with its embedded contract)")
    firmware.add_argument("--out", default="firmware", help="output folder (default firmware/)")
    firmware.add_argument("--prefix", default="har",
                          help="prefix of every C symbol and macro (and file name, if not 'har'), so two models "
                          "can live in one firmware (default har)")
    firmware.set_defaults(func=cmd_firmware)

    bench = stages.add_parser(
        "bench",
        help="measure everything in BENCHMARKS.md",
        description="Train the four model families on the embedded HAPT data with the UCI HAR split (the default "
        "CNN over several seeds), convert each to int8 and validate it on LiteRT and TFLM, time the Pi runtime "
        "on a long real stream, then write BENCHMARKS.md and bench/results.json.",
    )
    bench.add_argument("--seeds", type=int, default=3, help="seeds of the default CNN (default 3)")
    bench.add_argument("--quick", action="store_true", help="a few epochs only, to check the command works")
    bench.add_argument("--main-job", action="store_true",
                       help="instead: time `make model.tflite` in a fresh clone (install included); bench/main_job.json")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from train.recording import DataError

    try:
        return args.func(args)
    except (DataError, ValueError, FileNotFoundError) as error:
        print(f"har {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
