"""`har data`: look at a dataset as training will see it, before training anything."""
from __future__ import annotations

import argparse
import json

from train.cli_options import add_data_options, data_config_from_args


def cmd_data_summary(args: argparse.Namespace) -> int:
    import time

    from train.data.dataset import prepare
    from train.data.summary import format_summary

    start = time.perf_counter()
    prepared = prepare(data_config_from_args(args))
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps(prepared.summary, indent=2))
    else:
        print(format_summary(prepared.summary))
        print(f"\nloaded and windowed in {elapsed:.1f} s")
    return 0


def cmd_data_posture(args: argparse.Namespace) -> int:
    from train.data.dataset import prepare
    from train.data.posture import format_posture, posture_angles

    pair = tuple(c.strip() for c in args.pair.split(","))
    if len(pair) != 2 or not all(pair):
        raise ValueError(f"--pair {args.pair!r}: give two classes, e.g. SITTING,STANDING")
    angles = posture_angles(prepare(data_config_from_args(args)), pair)
    print(json.dumps(angles, indent=2) if args.json else format_posture(angles))
    return 0


def add_data_commands(stages) -> None:
    """`har data summary` and `har data posture`."""
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
    posture = data_cmds.add_parser(
        "posture",
        help="per subject, how many degrees of tilt separate two postures (e.g. sitting and standing)",
        description="Posture is read from the direction of gravity. For each subject of each split, the angle "
        "between the accelerometer's mean direction over the windows of one class and over those of another: "
        "a subject whose two postures differ by a few degrees cannot be told apart by tilt, by any model.",
    )
    add_data_options(posture)
    posture.add_argument("--pair", default="SITTING,STANDING", help="the two classes (default SITTING,STANDING)")
    posture.add_argument("--json", action="store_true", help="print the angles as JSON")
    posture.set_defaults(func=cmd_data_posture)
