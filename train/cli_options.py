"""Command-line options shared by the stages that read a dataset (`har data`, `train`, `evaluate`, ...).

The config file's [data] table is the base; options given on the command line override it.
"""
from __future__ import annotations

import argparse


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data (defaults: the UCI HAPT recordings embedded in the repository)")
    group.add_argument("--data", metavar="PATH", help="a dataset folder or file (default: embedded HAPT)")
    group.add_argument(
        "--format",
        choices=["hapt", "csv", "wisdm", "pamap2"],
        help="hapt: UCI HAPT RawData layout; csv: timestamp_ms,<channels>,activity[,subject]; "
        "wisdm: WISDM v1.1 raw; pamap2: PAMAP2 protocol .dat files (default: hapt)",
    )
    group.add_argument("--config", metavar="TOML", help="a config file (configs/default.toml is the default recipe); "
                       "its [data] table, and for train, tune and search its [model] and [train] too (default: "
                       "the built-in defaults)")
    group.add_argument("--window", help="window length in seconds as 2.56s, converted at the data's sample rate, "
                       "or in samples as 128 (default 2.56s: 128 samples at 50 Hz, 256 at 100 Hz)")
    group.add_argument("--stride", help="seconds (or samples) between window starts (default 1.28s)")
    group.add_argument("--classes", help="comma-separated source labels to keep (default: HAPT's six activities)")
    group.add_argument("--channels", help="comma-separated channels the model reads, e.g. acc_x,acc_y,acc_z "
                       "for an accelerometer-only model (default: all of the data's)")
    group.add_argument("--test-subjects", help="comma-separated subjects held out for testing")
    group.add_argument("--validation-subjects", help="comma-separated subjects for validation (\"\": none, every non-test subject trains)")
    group.add_argument("--units", help="units of channels whose header gives none, per sensor prefix or channel: "
                       "gyro=deg/s,acc=g or gyro_x=deg/s (a header's own unit, acc_x[g], must agree)")
    group.add_argument("--resample-hz", type=float, help="CSV: resample every recording to this rate")
    group.add_argument("--skip-bad-rows", action="store_true", help="CSV: count and skip malformed rows")


def config_from_args(args: argparse.Namespace) -> dict:
    """The config file's tables ([data], [model], [train]), overridden by options given on the command line."""
    from train.config import SECTIONS, load_config
    from train.data.units import parse_units

    config = load_config(args.config) if args.config else {section: {} for section in SECTIONS}
    data = config["data"]
    for key in ("format", "resample_hz"):
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    if args.data:
        data["path"] = args.data
        data.setdefault("format", "hapt")
    for key in ("window", "stride"):  # checked with the config file's values, in DataConfig.from_dict
        if getattr(args, key) is not None:
            data[key] = getattr(args, key)
    for key in ("classes", "channels", "test_subjects", "validation_subjects"):
        value = getattr(args, key)
        if value is not None:
            data[key] = [v.strip() for v in value.split(",") if v.strip()]
    if args.units is not None:
        data["units"] = parse_units(args.units)
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
    except RecursionError:
        raise ValueError(f"--set value {text[:40]!r}...: nested too deeply") from None


def data_config_from_args(args: argparse.Namespace):
    from train.data.dataset import DataConfig

    return DataConfig.from_dict(config_from_args(args)["data"])
