"""`har tune`: score a recipe by grouped K-fold cross-validation over the subjects that are not test
subjects, and with --final train it on the standard split over several seeds and score the test subjects
once, beside the cross-validation figure.

Why: a recipe chosen by its test-subject score makes that score a selection figure, optimistic for the
next user. Here every fold holds out whole subjects (the split's training and validation subjects pooled,
dealt round-robin in subject order), each fold is the real pipeline (`train_run`, the fold's subjects as
its validation split, the test subjects named as test so they stay out of training), and each is scored at
the end of training on its held-out subjects: accuracy, macro-F1, per-subject accuracy, and every case of
the robustness report (train/robustness.py: sensor errors and rotations), with the float model: a recipe choice can weigh every sensor
error without the test subjects.

RUNS/tune-NAME/ holds foldI run folders (and foldI-seedS for each further seed of --cv-seeds), final-seedS
ones (train/run.py), cv.json/.md and final.json/.md (train/tune_report.py). A finished run folder of the same
recipe is never retrained, and its scores are kept in it (score-SPLIT.json) until the run's model, contract,
config or data summary, or the code of train/ and device_runtime/, changes: a rerun over many finished recipes
takes minutes, not an hour (an edit of the data that moves neither the summary nor the contract's
normalisation is not seen: delete the score files then).
"""
from __future__ import annotations

import functools
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

from device_runtime.contract_checks import is_number
from device_runtime.files import atomic_write
from device_runtime.model_file import read_small_text
from train.data.dataset import prepare
from train.metrics import subject_order
from train.run import (MARKER, RunError, check_folder, is_finished, load, own_folder, run_folder,
                       same_recipe)
from train.run_config import RunConfig
from train.tune_report import cv_markdown, figures, final_markdown, progress_line, summarise


TUNE_MARKER = ".har-tune"  # written when `har tune` first writes into its folder
REPORTS = ("cv.json", "cv.md", "final.json", "final.md")


def tune_folder(runs: str | Path, name: str) -> Path:
    """RUNS/tune-NAME, refused if it is a link or a file, or a folder `har tune` did not make. A folder of an
    earlier version (no TUNE_MARKER) is taken as ours when it holds only `har train` run folders and reports."""
    return own_folder(run_folder(runs, f"tune-{name}"), "--name", "`har tune`", lambda p: (
        p.name in REPORTS and p.is_file() or p.is_dir() and not p.is_symlink() and (
            (p / MARKER).is_file() or not any(p.iterdir()))), TUNE_MARKER)


def folds(subjects: list[str], k: int) -> list[list[str]]:
    """K disjoint groups of whole subjects, dealt round-robin in subject order: deterministic, and sizes
    differing by one at most."""
    ordered = subject_order(subjects)
    if not 2 <= k <= len(ordered):
        raise ValueError(f"--cv {k}: needs 2 to {len(ordered)} folds (the subjects outside the test split: "
                         f"{' '.join(ordered)})")
    return [ordered[i::k] for i in range(k)]


def split_of(summary: dict) -> tuple[list[str], list[str]]:
    """(subjects cross-validation deals into folds, test subjects) of the standard split in a data summary."""
    splits = summary["splits"]
    return subject_order(splits["train"]["subjects"] + splits["validation"]["subjects"]), list(splits["test"]["subjects"])


def with_values(config: RunConfig, section: str, **values) -> RunConfig:
    """`config` with some [data] or [train] values replaced, checked again as a config file would be."""
    resolved = config.to_dict()
    resolved[section].update(values)
    return RunConfig.from_dict(resolved)


def trained(config: RunConfig, name: str, folder: Path) -> tuple[Path, str]:
    """The finished run NAME of `config` in `folder`: trained now, resumed, or found finished earlier."""
    run = run_folder(folder, name)
    check_folder(run, config.to_dict(), overwrite=True)  # refuses a link, or a folder `har train` did not make
    if (run / "config.json").is_file() and not same_recipe(run, config):
        raise RunError(f"{run}: holds a run of another recipe; give this recipe its own --name")
    if is_finished(run):
        return run, "already trained"
    from train.fit import train_run
    from train.models import keras

    keras.backend.clear_session()  # one graph per run, not all of them in memory
    return train_run(config, name, folder, quiet=True), "trained"


@functools.cache
def _code_digest() -> str:
    """What a score depends on besides the run: the code that prepares, predicts and scores."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("train/**/*.py"), *root.glob("device_runtime/*.py")]):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _score_key(run: Path, split: str) -> str:
    digest = hashlib.sha256(f"{split}\0{_code_digest()}".encode())
    for name in ("model.keras", "contract.json", "config.json", "data_summary.json"):
        path = run / name
        digest.update(path.read_bytes() if path.is_file() else b"absent")
    return digest.hexdigest()


def score_split(run: Path, split: str) -> dict:
    """A finished run's final float model on one split of its own data: accuracy, macro-F1, per-subject
    accuracy and every case of train/robustness.py. Kept in the run (score-SPLIT.json), keyed by everything
    it depends on; a damaged or stale file is scored again."""
    stored, key = run / f"score-{split}.json", _score_key(run, split)
    try:
        kept = json.loads(read_small_text(stored))  # never hangs on a FIFO
        if isinstance(kept, dict) and kept.get("key") == key and _usable(kept.get("result")):
            return {k: kept["result"][k] for k in SCORE_KEYS}  # no other key rides in (a "fold" of its own, say)
    except (OSError, ValueError, RecursionError):
        pass
    result = _score(run, split)
    atomic_write(stored, json.dumps({"key": key, "result": result}))
    return result


def _usable(result) -> bool:
    """A kept score has the shape and the finite numbers the reports read, and no number anywhere that is not
    finite (a score file is data, and cv.json must stay JSON)."""
    try:
        values = [*figures(result).values(), result["windows"], *(f["accuracy"] for f in result["per_subject"].values())]
        return (all(isinstance(s, str) for s in result["subjects"]) and list(result["per_subject"]) == result["subjects"]
                and isinstance(result["run"], str) and all(k in result for k in SCORE_KEYS) and all(
                    is_number(v) for v in values)
                and _finite_throughout(result))
    except (KeyError, TypeError, AttributeError, ValueError, OverflowError):
        return False


def _finite_throughout(value) -> bool:
    """No NaN or infinity anywhere in a JSON value (walked without recursion)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        stack.extend(item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())
    return True


SCORE_KEYS = ("run", "subjects", "windows", "accuracy", "macro_f1", "per_subject", "robustness")


def _score(run: Path, split: str) -> dict:
    from train.evaluate import prepare_raw
    from train.fit import score
    from train.robustness import keras_predictor, robustness

    config, contract, model = load(run)
    prepared, raw = prepare_raw(config.data, contract)
    windows = prepared.splits[split]
    metrics = score(model, windows, contract)
    return {"run": run.name, "subjects": subject_order(windows.subjects.tolist()), "windows": len(windows),
            "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"], "per_subject": metrics["per_subject"],
            "robustness": robustness(keras_predictor(model), contract, raw[split], windows.y)}


def cross_validate(config: RunConfig, k: int, folder: Path, seeds: int = 1) -> dict:
    """Train and score each fold, with `seeds` seeds each, into `folder`; write and return cv.json's content
    (cv.md beside it). With several seeds, each fold's seed models averaged (their softmax outputs) are scored too."""
    cv_subjects, test = split_of(prepare(config.data).summary)
    groups = folds(cv_subjects, k)  # a bad --cv is refused before anything is written
    if seeds < 1:
        raise ValueError(f"--cv-seeds {seeds}: give at least 1")
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / TUNE_MARKER).exists():
        atomic_write(folder / TUNE_MARKER, "made by `har tune`: fold and final run folders, and their reports\n")
    results, ensembles = [], []
    for i, subjects in enumerate(groups, 1):
        fold_config = with_values(config, "data", test_subjects=test, validation_subjects=subjects)
        fold_runs = []
        for seed in range(config.train.seed, config.train.seed + seeds):
            name = f"fold{i}" if seed == config.train.seed else f"fold{i}-seed{seed}"  # seed 0's runs predate seeds
            run, how = trained(with_values(fold_config, "train", seed=seed), name, folder)
            fold_runs.append(run)
            results.append({"fold": i, "seed": seed, **score_split(run, "validation")})
            print(progress_line(f"fold {i}/{k}, seed {seed}", results[-1], how), file=sys.stderr, flush=True)
        if seeds > 1:
            ensembles.append({"fold": i, **ensemble_split(fold_runs, "validation")})
    report = {"recipe": config.to_dict(), "k": k, "seeds": seeds, "cv_subjects": cv_subjects,
              "test_subjects_held_out": test, "folds": results, **summarise(results),
              "lowest_worst_subject_accuracy": min(figures(r)["worst_subject_accuracy"] for r in results)}
    if ensembles:
        report["seed_ensemble"] = {"folds": ensembles, **summarise(ensembles)}
    atomic_write(folder / "cv.json", json.dumps(report, indent=2, allow_nan=False))
    atomic_write(folder / "cv.md", cv_markdown(report))
    return report


def ensemble_split(runs: list[Path], split: str) -> dict:
    """The runs' float models averaged (mean of their softmax outputs) on one split of their shared data:
    accuracy, macro-F1 and per-subject accuracy. What a seed ensemble would gain, from runs already trained."""
    from train.evaluate import prepare_raw
    from train.metrics import classification_report, per_subject

    loaded = [load(run) for run in runs]
    config, contract, _ = loaded[0]
    if any(c.to_json() != contract.to_json() for _, c, _ in loaded):
        raise RunError(f"{runs[0].parent}: the seeds' runs have different contracts; they cannot be averaged")
    windows = prepare_raw(config.data, contract)[0].splits[split]
    probabilities = np.mean([model.predict(windows.x, batch_size=512, verbose=0) for _, _, model in loaded], axis=0)
    predicted = probabilities.argmax(axis=1)
    metrics = classification_report(windows.y, predicted, contract.class_names)
    return {"runs": [run.name for run in runs], "subjects": subject_order(windows.subjects.tolist()),
            "windows": len(windows), "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "per_subject": per_subject(windows.y, predicted, windows.subjects, names=contract.class_names), "robustness": {}}


def final(config: RunConfig, seeds: int, folder: Path, cv: dict) -> dict:
    """Train the recipe on the standard split with `seeds` seeds and score the test subjects once each;
    write and return final.json's content (final.md beside it), the CV figure and the gap beside them."""
    results = []
    for seed in range(config.train.seed, config.train.seed + seeds):
        run, how = trained(with_values(config, "train", seed=seed), f"final-seed{seed}", folder)
        results.append({"seed": seed, **score_split(run, "test")})
        print(progress_line(f"final seed {seed}", results[-1], how), file=sys.stderr, flush=True)
    test = summarise(results)
    gap = {name: 100 * (cv["mean"][name] - test["mean"][name]) for name in ("accuracy", "macro_f1")}
    report = {"recipe": config.to_dict(), "cv": {"k": cv["k"], "mean": cv["mean"], "std": cv["std"]},
              "test": results, "test_mean": test["mean"], "test_std": test["std"], "cv_minus_test_points": gap}
    atomic_write(folder / "final.json", json.dumps(report, indent=2, allow_nan=False))
    atomic_write(folder / "final.md", final_markdown(report))
    return report


def tune(config: RunConfig, k: int, runs: str | Path, name: str, final_seeds: int | None = None,
         cv_seeds: int = 1) -> tuple[Path, dict, dict | None]:
    """Cross-validate the recipe into RUNS/tune-NAME, then (given final_seeds) its final test-subject runs."""
    folder = tune_folder(runs, name)
    if config.data.target_column is not None or config.data.target is not None:
        raise ValueError("har tune scores classifiers by macro-F1; a regression recipe ([data] target or "
                         "target_column) is not supported yet")
    if final_seeds is not None and final_seeds < 1:
        raise ValueError(f"--seeds {final_seeds}: give at least 1")
    if config.train.final_model == "best" or config.train.patience > 0:  # each fold validates on what it scores
        raise ValueError("har tune scores each fold on its held-out subjects, which are also its validation split: "
                         "train.final_model = 'best' or train.patience > 0 would choose the epoch on them and "
                         "flatter the score; use final_model = 'last' and patience = 0")
    cv = cross_validate(config, k, folder, cv_seeds)
    return folder, cv, final(config, final_seeds, folder, cv) if final_seeds else None
