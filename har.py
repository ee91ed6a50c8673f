"""`har`: the toolchain's command line, one subcommand per stage (data, train, evaluate, convert, ...).

Each stage is imported only when its subcommand runs, so `har data` starts without TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import sys

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


def data_config_from_args(args: argparse.Namespace):
    """The [data] table of --config, overridden by any data option given on the command line."""
    from train.config import load_config
    from train.dataset import DataConfig

    data = load_config(args.config)["data"] if args.config else {}
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
    return DataConfig.from_dict(data)


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
