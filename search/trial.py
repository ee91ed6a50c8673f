"""One trial: a recipe's device cost (pruned if over budget), then its grouped K-fold cross-validation
with the real pipeline, each fold's model converted to int8 and scored on the fold's held-out subjects.

The objectives: mean int8 macro-F1 over the folds (up), int8 flash (down), and compute (down: measured
Cortex-M4 instructions where the budget names instructions, else MACs). The test subjects are named as
the test split in every fold, so they never reach training, calibration or a score here.

Fold runs live in TRIALS/<recipe hash>/foldI: a retried or resumed trial finds them finished, or resumes
them, instead of training again; a recipe the sampler proposes again after it was scored takes its figures.
Two workers never train one recipe at once: the second waits on its lock file, then takes the figures.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from search.budget import over_budget
from search.space import suggest
from train.run_config import RunConfig

QAT_EPOCHS = 3  # quantization-aware fine-tuning per fold of a trial (an exported trial gets `har convert --qat`'s)


@dataclass
class SearchSettings:
    """Everything a worker process needs (picklable: workers are spawned processes)."""

    folder: Path  # RUNS/search-NAME
    storage: str
    study: str
    base: dict  # the base recipe, RunConfig.to_dict()
    budget: dict[str, int]
    families: list[str]
    cv: int = 3
    epochs: int = 15
    trials: int = 40
    seconds: float | None = None
    seed: int = 0
    threads: int = 0  # TensorFlow threads per worker (0: TensorFlow's choice)
    keep_runs: bool = False
    compute: str = field(init=False)

    def __post_init__(self):
        self.compute = "instructions" if "instructions" in self.budget else "macs"


def recipe_key(config: RunConfig) -> str:
    return hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def objective(trial, settings: SearchSettings) -> tuple[float, float, float]:
    """Optuna's objective (multi-objective: a tuple). Raises optuna.TrialPruned for an infeasible recipe."""
    import optuna

    from search.cost import measure_cost
    from train.data.dataset import prepare
    from train.tune import folds, split_of, with_values

    start = time.perf_counter()
    base = RunConfig.from_dict(settings.base)
    config, qat = suggest(trial, base, settings.families, settings.epochs)
    key = recipe_key(config) + ("-qat" if qat else "")
    trial.set_user_attr("recipe", config.to_dict())
    trial.set_user_attr("key", key)
    if (earlier := repeated(trial, key)) is not None:  # the sampler proposed a trained recipe again
        return earlier
    cv_subjects, test = split_of(prepare(config.data).summary)
    groups = folds(cv_subjects, settings.cv)
    fold_configs = [with_values(config, "data", test_subjects=test, validation_subjects=g) for g in groups]
    first = prepare(fold_configs[0].data)
    cost = measure_cost(config, first, settings.compute == "instructions", qat)
    trial.set_user_attr("cost", cost)
    problems = over_budget(cost, settings.budget)
    if problems:
        trial.set_user_attr("pruned_because", problems)
        print(f"trial {trial.number}: over budget ({'; '.join(problems)}), not trained", file=sys.stderr, flush=True)
        raise optuna.TrialPruned("; ".join(problems))
    folder = settings.folder / "trials" / key
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock_file = os.open(folder.parent / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with open(lock_file, "rb") as lock:  # the lock is released when this process ends, however it ends
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker may be training this recipe: wait for it ...
        if (earlier := repeated(trial, key)) is not None:  # ... and take its figures
            return earlier
        scores = [score_fold(fold_config, f"fold{i}", folder, qat) for i, fold_config in enumerate(fold_configs, 1)]
        cv = summary(scores)
        trial.set_user_attr("cv", cv)
        trial.set_user_attr("seconds", time.perf_counter() - start)
        if not settings.keep_runs:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"trial {trial.number}: {config.family}, CV int8 macro-F1 {cv['int8_macro_f1']:.4f} "
          f"+- {cv['int8_macro_f1_std']:.4f}, {cost['flash_bytes']:,} B, arena {cost['arena_bytes']:,} B, "
          f"{cost[settings.compute]:,} {settings.compute}", file=sys.stderr, flush=True)
    return cv["int8_macro_f1"], float(cost["flash_bytes"]), float(cost[settings.compute])


def repeated(trial, key: str) -> tuple | None:
    """The objectives of a finished trial of the same recipe, recorded as this trial's; None if there is none."""
    import optuna

    earlier = next((t for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
                    if t.user_attrs.get("key") == key), None)
    if earlier is None:
        return None
    for name in ("cost", "cv"):
        trial.set_user_attr(name, earlier.user_attrs[name])
    trial.set_user_attr("repeat_of", earlier.number)
    print(f"trial {trial.number}: the recipe of trial {earlier.number}, not trained again", file=sys.stderr, flush=True)
    return tuple(earlier.values)


def score_fold(config: RunConfig, name: str, folder: Path, qat: bool = False) -> dict:
    """Train (or resume, or find) one fold's run; its float and int8 models on the held-out subjects
    (`qat`: the int8 model after quantization-aware fine-tuning, as `har convert --qat` makes it)."""
    from convert.quantize import convert_model, export_model, quantization_of, representative_windows
    from device_runtime.interpreter import Classifier
    from train.data.dataset import prepare
    from train.evaluate_tflite import model_input
    from train.metrics import classification_report
    from train.run import load
    from train.tune import trained

    run, _ = trained(config, name, folder)
    _, contract, model = load(run)
    prepared = prepare(config.data, contract)
    held_out = prepared.splits["validation"]
    quantized = export_model(config, contract, model)
    if qat:
        from train.qat import fine_tune

        quantized = export_model(config, contract, fine_tune(config, prepared, model, QAT_EPOCHS), qat=True)
    int8 = convert_model(quantized, "int8", representative_windows(prepared.splits["train"], 300))
    q = quantization_of(int8)
    classifier = Classifier(int8, dataclasses.replace(contract, quantization=q))
    inputs = model_input(held_out.x, q)
    int8_report = classification_report(held_out.y, classifier.predict(inputs).argmax(1), contract.class_names)
    float_report = classification_report(held_out.y, model.predict(held_out.x, verbose=0).argmax(1), contract.class_names)
    return {"subjects": sorted(set(held_out.subjects.tolist())), "int8_accuracy": int8_report["accuracy"],
            "int8_macro_f1": int8_report["macro_f1"], "float_macro_f1": float_report["macro_f1"],
            "int8_recall": {n: c["recall"] for n, c in int8_report["per_class"].items()}}


def summary(folds: list[dict]) -> dict:
    figures = {name: np.array([f[name] for f in folds]) for name in ("int8_macro_f1", "int8_accuracy", "float_macro_f1")}
    out = {name: float(v.mean()) for name, v in figures.items()}
    out.update({f"{name}_std": float(v.std(ddof=1)) if len(v) > 1 else 0.0 for name, v in figures.items()})
    return {**out, "folds": folds}
