"""`har train`, `har tune`, `har evaluate` and `har evaluate-stream`: their options and what they run."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from train.cli_data import add_data_commands
from train.cli_options import add_data_options, config_from_args

DATA_OPTIONS = ("data", "format", "config", "window", "stride", "classes", "channels", "test_subjects", "validation_subjects",
                "resample_hz", "skip_bad_rows", "units")


def recipe_from_args(args: argparse.Namespace) -> dict:
    """The config file's tables overridden by --set and the model and training options given."""
    config = config_from_args(args)
    if args.model and args.model != config["model"].get("family", "cnn"):
        # The config's [model] settings belong to its own family: start from the new family's defaults.
        print(f"har: --model {args.model}: using {args.model}'s default settings instead of the config's [model]",
              file=sys.stderr)
        config["model"] = {}
    for key, section, name in (
        ("model", "model", "family"), ("epochs", "train", "epochs"), ("seed", "train", "seed"),
        ("batch_size", "train", "batch_size"), ("learning_rate", "train", "learning_rate"),
        ("target_column", "data", "target_column"), ("target", "data", "target"),
    ):
        if getattr(args, key, None) is not None:
            config[section][name] = getattr(args, key)
    return config


def cmd_train(args: argparse.Namespace) -> int:
    config = recipe_from_args(args)
    has_target = config["data"].get("target_column") or config["data"].get("target")
    if args.task == "regression" and not has_target:
        raise ValueError("--task regression needs --target-column (a numeric column of the CSV files) or --target "
                         "(a target derived from the recordings: cadence)")
    if args.task == "classification" and has_target:
        raise ValueError("a target column or derived target trains a regression model: pass --task regression")

    from train.run import check_folder, run_folder
    from train.run_config import RunConfig

    run_config = RunConfig.from_dict(config)
    name = args.name if args.name is not None else f"{run_config.family}-seed{run_config.train.seed}"
    # A bad --name or --runs, or a folder training must not touch, is refused before TensorFlow loads.
    check_folder(run_folder(args.runs, name), run_config.to_dict(), args.overwrite)

    from train.evaluate import evaluate_run
    from train.fit import train_run

    run = train_run(run_config, name, args.runs, overwrite=args.overwrite)
    metrics = evaluate_run(run)
    print(f"\n{run}: " + _headline(metrics))
    print(f"report: {run / 'evaluation' / 'report.md'}; TensorBoard: tensorboard --logdir {run}")
    return 0


def _headline(metrics: dict) -> str:
    if "mae" in metrics:
        base = metrics.get("baseline_mean_predictor")
        return (f"test MAE {metrics['mae']:.4f}, RMSE {metrics['rmse']:.4f}, R^2 {metrics['r2']:.3f}"
                + (f" (mean predictor: MAE {base['mae']:.4f})" if base else ""))
    line = f"test accuracy {100 * metrics['accuracy']:.2f}%, macro-F1 {metrics['macro_f1']:.4f}"
    return line + (f", {metrics['params']:,} parameters" if metrics.get("params") else "")


def data_overrides(args: argparse.Namespace) -> dict:
    """The [data] settings given (config file and options) to override what a .tflite's contract stores."""
    overrides = config_from_args(args)["data"]
    if args.data and args.format is None and not args.config:
        overrides.pop("format", None)  # not chosen by the user: the model's own format stays
    return overrides


def cmd_evaluate(args: argparse.Namespace) -> int:
    if args.run.endswith(".tflite"):
        from train.evaluate_tflite import data_config_for, evaluate_tflite

        if args.checkpoint != "final":
            raise ValueError("--checkpoint chooses a run's Keras model; a .tflite is one model already")
        out = Path(args.out or Path(args.run).with_suffix("").name + "_evaluation").absolute()
        metrics = evaluate_tflite(args.run, data_config_for(args.run, data_overrides(args)), out, args.robustness)
    else:
        from train.evaluate import evaluate_run, evaluation_folder
        from train.run import resolve

        given = [k for k in DATA_OPTIONS if getattr(args, k) not in (None, False)] + (["out"] if args.out else [])
        if given:
            raise ValueError(f"--{given[0].replace('_', '-')}: a run is evaluated on its own data into "
                             "RUN/evaluation/; --out and the data options are for a .tflite")
        metrics = evaluate_run(args.run, args.checkpoint, args.robustness)
        out = evaluation_folder(resolve(args.run), args.checkpoint)
    print(Path(args.run).name + ": " + _headline(metrics))
    print((out / "report.md").read_text())
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from train.run_config import RunConfig
    from train.tune import tune, tune_folder

    config = RunConfig.from_dict(recipe_from_args(args))
    name = args.name if args.name is not None else config.family
    tune_folder(args.runs, name)  # a bad --name or --runs, or a folder not ours, is refused before TensorFlow loads
    if args.cv_seeds < 1:
        raise ValueError(f"--cv-seeds {args.cv_seeds}: give at least 1")
    folder, cv, final = tune(config, args.cv, args.runs, name, args.seeds if args.final else None, args.cv_seeds)
    mean, std = cv["mean"], cv["std"]
    print(f"{folder}: {args.cv}-fold cross-validation, macro-F1 {mean['macro_f1']:.4f} ± {std['macro_f1']:.4f}, "
          f"accuracy {100 * mean['accuracy']:.2f}% ± {100 * std['accuracy']:.2f}; report: {folder / 'cv.md'}")
    if "seed_ensemble" in cv:
        ensemble = cv["seed_ensemble"]["mean"]
        print(f"each fold's {args.cv_seeds} seeds averaged: macro-F1 {ensemble['macro_f1']:.4f}, worst subject "
              f"{100 * ensemble['worst_subject_accuracy']:.1f}% (single seeds: {100 * mean['worst_subject_accuracy']:.1f}%)")
    if final:
        gap = final["cv_minus_test_points"]
        print(f"test subjects, {args.seeds} seeds: macro-F1 {final['test_mean']['macro_f1']:.4f}, accuracy "
              f"{100 * final['test_mean']['accuracy']:.2f}% (CV minus test: {gap['accuracy']:+.2f} points); "
              f"report: {folder / 'final.md'}")
    return 0


def cmd_evaluate_stream(args: argparse.Namespace) -> int:
    from train.evaluate_tflite import data_config_for, evaluate_stream, seconds

    report = evaluate_stream(args.model, data_config_for(args.model, data_overrides(args)), args.out)
    d = report["default"]
    if "mae" in d:
        mae = [("n/a" if m is None else f"{m:.3f}") for m in (d["mae"], report["smoothing"][-1]["mae"])]
        print(f"{args.model}, {d['smoothing']}: MAE over time {mae[0]} {report['unit']} ({d['windows']} scored "
              f"windows of {report['predictions']}), without smoothing {mae[1]}")
        print(f"report: {Path(args.out) / 'stream_report.md'}")
        return 0
    print(f"{args.model}, {d['smoothing']}: accuracy {100 * d['accuracy']:.2f}%, {d['flips_per_minute']:.2f} flips/min, "
          f"median delay {seconds(d['delay_ms_median'])}, event macro-F1 {d['event_macro_f1']:.3f}")
    print(f"report: {Path(args.out) / 'stream_report.md'}")
    return 0


def register(stages) -> None:
    """Add this stage's subcommands to har's parser."""
    add_data_commands(stages)
    for add in (_add_train, _add_tune, _add_evaluate, _add_evaluate_stream):
        add(stages)


def _add_train(stages) -> None:
    train = stages.add_parser(
        "train",
        help="train a model into runs/NAME/",
        description="Train one model. Its settings come from a config file (--config: [data], [model] and [train] "
        "tables; configs/default.toml is the default recipe, and without --config the built-in defaults apply); "
        "options here override it. The run folder gets the resolved "
        "config, the preprocessing contract, the data summary, checkpoints (best by validation macro-F1, or "
        "every epoch), TensorBoard logs and, at the end, the test-subject evaluation. Rerunning the same "
        "command after a crash or Ctrl-C resumes from the last completed epoch.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  har train --config configs/default.toml\n  har train --model lstm --epochs 30 --name lstm\n"
        "  har train --set model.filters=[16,32,32] --set train.class_weights='none'\n"
        "  har train --data recordings/ --format csv --task regression --target-column speed\n"
        "  har train --config configs/cadence.toml --name cadence",
    )
    add_data_options(train)
    group = _add_recipe_options(train, "run name, the folder under --runs (default FAMILY-seedN)")
    group.add_argument("--task", choices=["classification", "regression"],
                       help="regression predicts the window mean of --target-column (CSV data) or of --target "
                       "(default: regression when the config or options name a target, else classification)")
    group.add_argument("--target-column", help="regression: the numeric CSV column to predict")
    group.add_argument("--target", choices=["cadence"], help="regression: a target derived from the recordings, "
                       "cadence = walking steps/min (train/data/targets.py); e.g. --config configs/cadence.toml")
    group.add_argument("--overwrite", action="store_true",
                       help="replace a finished run of the same name (an interrupted run of the same config resumes)")
    train.set_defaults(func=cmd_train)


def _add_recipe_options(parser: argparse.ArgumentParser, name_help: str):
    """The model and training options `har train` and `har tune` share; returns their group."""
    group = parser.add_argument_group("model and training")
    group.add_argument("--model", choices=["cnn", "mlp", "lstm", "convlstm"], help="model family (default cnn)")
    group.add_argument("--name", help=name_help)
    group.add_argument("--runs", default="runs", help="folder of all runs (default runs/)")
    group.add_argument("--epochs", type=int, help="epochs (default 100; early stopping, if switched on, may end sooner)")
    group.add_argument("--batch-size", type=int, help="default 32")
    group.add_argument("--learning-rate", type=float, help="Adam's initial rate, cosine-decayed (default 0.002)")
    group.add_argument("--seed", type=int, help="seed for weights, shuffling and augmentation (default 0)")
    group.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                       help="override any config value, e.g. --set train.patience=30 (repeatable)")
    return group


def _add_tune(stages) -> None:
    tune = stages.add_parser(
        "tune",
        help="score a recipe by cross-validation over the non-test subjects; --final: then the test subjects once",
        description="Grouped K-fold cross-validation of one recipe (the options of `har train`) over the subjects "
        "outside the test split: folds of whole subjects dealt round-robin in subject order, each trained with "
        "the real pipeline and scored at the end of training on its held-out subjects (accuracy, macro-F1, "
        "per-subject accuracy, and every case of the robustness report: sensor errors and rotations). The test subjects are never scored here. Writes RUNS/tune-NAME/cv.json and cv.md (each fold, "
        "mean and standard deviation). --final then trains the recipe on the standard split with --seeds seeds "
        "and scores the test subjects once, beside the CV figure and the gap (final.json, final.md). Rerunning "
        "the same command retrains nothing already finished.",
    )
    add_data_options(tune)
    group = _add_recipe_options(tune, "the recipe's name: its folder is RUNS/tune-NAME (default FAMILY)")
    group.add_argument("--cv", type=int, default=5, metavar="K", help="folds (default 5)")
    group.add_argument("--cv-seeds", type=int, default=1, metavar="N",
                       help="train each fold with N seeds, from --seed on (default 1): the spread then includes "
                       "the seeds', and each fold's seeds averaged are scored as an ensemble")
    group.add_argument("--final", action="store_true", help="then train on the standard split and score the test subjects")
    group.add_argument("--seeds", type=int, default=3, help="--final: seeds, from --seed on (default 3)")
    tune.set_defaults(func=cmd_tune)


def _add_evaluate(stages) -> None:
    evaluate = stages.add_parser(
        "evaluate",
        help="score a run or a .tflite on the test subjects",
        description="Accuracy, macro-F1, per-class precision/recall/F1 and the confusion matrix (JSON, PNG, text) "
        "on the test subjects, with a Markdown report: of a trained run (written to RUN/evaluation/), or of a "
        ".tflite run with the device runtime's interpreter and its embedded contract, on the data it was "
        "tested on at conversion (source, classes, test subjects, window and stride stored in its contract); "
        "data options given override that. A regression model (cadence, ...) gets MAE, RMSE and R^2 in its "
        "target's unit beside the mean predictor, each subject's MAE and predicted_vs_true.png instead.",
    )
    evaluate.add_argument("run", help="a run folder (runs/NAME), its model.keras, or a .tflite")
    evaluate.add_argument("--out", help="for a .tflite: the report folder (default MODEL_evaluation/)")
    evaluate.add_argument("--checkpoint", choices=["final", "best"], default="final",
                          help="for a run: final (model.keras, default) or best (checkpoints/best.keras; "
                          "reports in RUN/evaluation-best/)")
    evaluate.add_argument("--robustness", action="store_true",
                          help="add the robustness section: sensor errors (gyro and accelerometer bias, de-meaned "
                          "gyro, gain, noise, sample rate) and sensor rotations, each scored on the test windows")
    add_data_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)


def _add_evaluate_stream(stages) -> None:
    stream = stages.add_parser(
        "evaluate-stream",
        help="replay whole test recordings through the device runtime and score what a user feels",
        description="Feed every test-subject recording, sample by sample, through the device runtime's own "
        "windowing and smoothing with the .tflite, and report accuracy over time, label flips per minute, the "
        "delay from an activity change to the new label and event-level F1 per class, with a timeline plot; "
        "then sweep the smoothing settings (majority vote length, EMA and hysteresis) and plot flips per "
        "minute against delay. Writes stream_report.json/.md, timeline.png and smoothing_sweep.png to --out. "
        "A regression model gets the MAE over time of the value the runtime reports (mean, median and no "
        "smoothing; overall and per recording) and a timeline of predicted and true values instead.",
    )
    stream.add_argument("model", help="the .tflite (with its embedded contract; its test data is the default)")
    stream.add_argument("--out", default="stream_eval", help="output folder (default stream_eval/)")
    add_data_options(stream)
    stream.set_defaults(func=cmd_evaluate_stream)
