"""`har bench`: its options; the measurements are in bench/measure.py."""
from __future__ import annotations

import argparse

from bench.report import SECTIONS


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.measure import main

    return main(args)


def register(stages) -> None:
    """Add this stage's subcommand to har's parser."""
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
    bench.add_argument("--only", choices=list(SECTIONS),
                       help="instead: measure one section on --model (mcu: Cortex-M4 instructions, flash and RAM; "
                       "light: commands without TensorFlow; regression: trains and converts configs/cadence.toml, "
                       "--model unused; recipe: the cross-validated recipe choice, in --runs, where a recipe without runs keeps "
                       "the figures bench/results.json recorded if its command is unchanged; search-scaling: one small "
                       "search by 1 and 2 worker processes; learning-curve: the CV folds of the one-network recipe the "
                       "default averages three of, retrained on fewer subjects, "
                       "in --runs), merge it into bench/results.json, rewrite BENCHMARKS.md")
    bench.add_argument("--model", default="model.tflite", help="the model --only measures (default model.tflite)")
    bench.add_argument("--runs", default="runs/bench", help="--only recipe, search, learning-curve: the folder of their "
                       "runs (resumable; default runs/bench)")
    bench.set_defaults(func=cmd_bench)
