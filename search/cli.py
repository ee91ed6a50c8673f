"""`har search`: its options; the study is in search/study.py, one trial in search/trial.py."""
from __future__ import annotations

import argparse
import os
import re
import textwrap
import sys
from pathlib import Path

DEFAULT_BUDGET = "flash=64KB,arena=16KB"  # a small Cortex-M4 board's share for the model
DEFAULT_BASE = Path(__file__).resolve().parent.parent / "configs" / "default.toml"  # `make model.tflite`'s recipe


def parse_duration(text: str | None) -> float | None:
    """--time 90s, 30m, 2h (or plain seconds) -> seconds."""
    if text is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smh]?)", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--time {text!r}: give a duration such as 90s, 30m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def settings_from_args(args: argparse.Namespace):
    """Every option checked (and the folder refused if unusable) before TensorFlow or Optuna load."""
    from search.budget import parse_budget
    from search.study import default_storage
    from search.trial import SearchSettings
    from train.cli_options import config_from_args
    from train.run import run_folder
    from train.run_config import FAMILIES, RunConfig

    families = [f.strip() for f in args.families.split(",") if f.strip()]
    if not families or set(families) - set(FAMILIES):
        raise ValueError(f"--families {args.families!r}: choose from {', '.join(FAMILIES)}")
    cores = os.cpu_count() or 1
    for option, value, low, high in (("--trials", args.trials, 1, None), ("--cv", args.cv, 2, None),
                                     ("--epochs", args.epochs, 1, None), ("--seeds", args.seeds, 1, None),
                                     ("--workers", args.workers, 1, 2 * cores), ("--threads", args.threads, 0, None),
                                     ("--seed", args.seed, 0, 2**31)):
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" + (f" (twice this machine's {cores} cores: each worker trains with "
                                               "TensorFlow)" if option == "--workers" else "") if high else f"at least {low}"
            raise ValueError(f"{option} {value}: give {limit}")
    if args.config is None and DEFAULT_BASE.is_file():
        args.config = str(DEFAULT_BASE)
    base = RunConfig.from_dict(config_from_args(args))
    budget = parse_budget(args.budget)
    if "instructions" in budget and args.export is None and not args.report:
        from firmware_gen.cli import build_tools

        build_tools(None, "an instructions budget (measured on an emulated Cortex-M4; macs=N counts instead)")
    if args.export is None and not args.report:  # a fold count the data cannot give fails every trial: refuse it now
        from train.data.dataset import prepare
        from train.tune import folds, split_of

        folds(split_of(prepare(base.data).summary)[0], args.cv)
    folder = run_folder(args.runs, f"search-{args.name}")
    return SearchSettings(folder=folder, storage=args.storage or default_storage(folder), study=args.name,
                          base=base.to_dict(), budget=budget, families=families, cv=args.cv,
                          epochs=args.epochs, trials=args.trials, seconds=parse_duration(args.time), seed=args.seed,
                          threads=args.threads, keep_runs=args.keep_runs)


def cmd_search(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from search.report import DamagedStudy

    try:
        return _search(args, settings)
    except DamagedStudy as error:
        raise ValueError(f"{settings.storage}: {error}") from None
    except RecursionError:  # a study attribute nested without end, decoded by Optuna
        raise ValueError(f"{settings.storage}: a value stored in study '{settings.study}' is nested too deeply to "
                         "read; a damaged or crafted study: give this search another --name") from None


def _search(args: argparse.Namespace, settings: SearchSettings) -> int:
    from search import report
    from search.study import existing_study, open_study, run

    if args.export is None and not args.report:
        run(settings, args.workers)
        study = open_study(settings)
    else:
        study = existing_study(settings)
    written = report.write(study, settings.folder)
    print(f"{settings.folder}: {len(written['trials'])} trials, Pareto front {written['front']}; "
          f"report: {settings.folder / 'pareto.md'}", file=sys.stderr)
    if args.export is not None:
        from search.export import export

        summary = export(study, args.export, settings.folder, args.seeds)
        print(f"trial {args.export}: config {settings.folder / f'trial-{args.export}.toml'}; "
              f"report: {settings.folder / f'export-{args.export}.md'}"
              + f"; int8 test accuracy {100 * summary['int8_accuracy_mean']:.2f}% over {args.seeds} seeds"
              + (f", the conversion guard refused seeds {summary['refused_seeds']}" if summary["refused_seeds"] else ""))
    return 0


def register(stages) -> None:
    """Add this stage's subcommand to har's parser."""
    from train.cli_options import add_data_options

    search = stages.add_parser(
        "search",
        help="find the most accurate models that fit a board's flash, RAM and time budget",
        description=textwrap.fill("A multi-objective search (Optuna's TPE) over the four model families and what a compact IMU "
        "model tries (depth, width, kernel size, depthwise-separable and dilated convolutions, pooling, window "
        "length, accelerometer only, the gravity branch). Each trial is converted to int8 untrained first: over "
        "the budget, it is pruned without training. Otherwise it is trained by grouped K-fold cross-validation "
        "over the training subjects (the real pipeline, --epochs per fold) and each fold's int8 model is scored on "
        "its held-out subjects. Objectives: CV int8 macro-F1, int8 flash, and Cortex-M4 instructions (measured "
        "under QEMU when the budget names instructions) or MACs. The test subjects are scored only by --export. "
        "RUNS/search-NAME/ holds study.db, trials.json/.csv, pareto.md and pareto.png. A killed search resumes "
        "when the same command is run again; --workers runs trials in parallel processes, and --storage with a "
        "database URL lets workers on several machines join one study.", 100),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  har search --budget flash=20KB,arena=8KB,instructions=1M --trials 40 --name m4\n"
        "  har search --name m4 --workers 2                   # continue it with two processes\n"
        "  har search --name m4 --storage postgresql://user@db/har   # on every machine of a cluster\n"
        "  har search --name m4 --export 17 --seeds 3         # trial 17: config, runs, test scores\n"
        "  har search --name m4 --report                      # rewrite the reports",
    )
    add_data_options(search)
    group = search.add_argument_group("search")
    group.add_argument("--budget", default=DEFAULT_BUDGET, help=f"KEY=VALUE,... with keys flash, arena (bytes: B, KB, MB), "
                       f"instructions, macs, params (counts: K, M) (default {DEFAULT_BUDGET})")
    group.add_argument("--trials", type=int, default=40, help="trials in the study, trained and pruned, over all workers (default 40)")
    group.add_argument("--time", help="stop starting trials after this long, e.g. 30m (default: no limit)")
    group.add_argument("--cv", type=int, default=3, metavar="K", help="cross-validation folds per trial (default 3)")
    group.add_argument("--epochs", type=int, default=15, help="training epochs per fold during the search (default 15; "
                       "--export trains for these epochs too, as the search scored them)")
    group.add_argument("--families", default="cnn,mlp,lstm,convlstm", help="families to search (default all four)")
    group.add_argument("--workers", type=int, default=1, help="parallel worker processes on this machine (default 1)")
    group.add_argument("--threads", type=int, default=0, help="TensorFlow threads per worker (default: the cores "
                       "shared out among --workers)")
    group.add_argument("--storage", help="an Optuna storage URL shared by workers, e.g. postgresql://user@host/db "
                       "(default: sqlite in RUNS/search-NAME/study.db)")
    group.add_argument("--name", default="default", help="the study's name; its folder is RUNS/search-NAME")
    group.add_argument("--runs", default="runs", help="folder of all runs (default runs/)")
    group.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    group.add_argument("--keep-runs", action="store_true", help="keep every fold's run folder (default: deleted once scored)")
    group.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a base recipe value")
    group.add_argument("--report", action="store_true", help="only rewrite the reports of the study --name (the "
                       "search options are then not needed)")
    group.add_argument("--export", type=int, metavar="TRIAL", help="train TRIAL on the standard split and score the test subjects")
    group.add_argument("--seeds", type=int, default=3, help="--export: seeds (default 3)")
    search.set_defaults(func=cmd_search)
