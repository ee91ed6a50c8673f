"""`har search --export TRIAL`: a trial's recipe becomes a normal config file and normal runs.

RUNS/search-NAME/trial-K.toml is the recipe as the search scored it, training length included (a longer
training is another recipe, which cross-validation did not score), for `har train --config` or
`make model.tflite CONFIG=...`. Then, once per seed, the recipe is
trained on the standard split (export-K-seedS, a run `har convert` takes) and converted by `har convert`'s
pipeline, which scores the test subjects: the only place a search's recipes meet them, and only for the
trials a user exports from the front. export-K.json and .md hold the seeds' figures and their spread.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from device_runtime.files import atomic_write
from search.report import scored, trials_of
from train.config import dump_config
from train.report_table import markdown_table
from train.qat import EPOCHS as QAT_EPOCHS
from train.run_config import RunConfig


def exported_recipe(study, number: int) -> RunConfig:
    """Trial `number`'s recipe, exactly as cross-validation scored it (its training length included);
    refused unless the trial was trained."""
    import optuna

    trials = trials_of(study)
    if not 0 <= number < len(trials) or trials[number].state != optuna.trial.TrialState.COMPLETE:
        finished = [t.number for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
        raise ValueError(f"--export {number}: not a trained trial of this search (trained: {finished or 'none yet'})")
    try:  # a study database is data: its recipe is validated like a config file
        recipe = RunConfig.from_dict(dict(trials[number].user_attrs["recipe"]))
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"--export {number}: the study holds no usable recipe for it ({type(error).__name__}: "
                         f"{str(error)[:200]}); was it made by `har search`?") from None
    except ValueError as error:
        raise ValueError(f"--export {number}: the study's recipe for it is refused: {error}") from None
    if not scored(trials[number].user_attrs):
        raise ValueError(f"--export {number}: the study's figures for this trial are damaged or missing; "
                         "was it made by `har search`?")
    return recipe


def export(study, number: int, folder: Path, seeds: int) -> dict:
    """Write trial-K.toml, train and convert `seeds` seeds; write and return export-K.json's content."""
    from convert.pipeline import convert_run
    from convert.publish import ConversionError
    from train.tune import trained, with_values

    config = exported_recipe(study, number)
    qat = bool(trials_of(study)[number].params.get("qat"))
    atomic_write(folder / f"trial-{number}.toml", dump_config(
        config.to_dict(), f"Trial {number} of the search in {folder.name}, exported with `har search --export {number}`."
        + ("\nIts int8 model is quantization-aware: convert it with `har convert RUN --qat`." if qat else "")))
    results = []
    for seed in range(config.train.seed, config.train.seed + seeds):
        run, how = trained(with_values(config, "train", seed=seed), f"export-{number}-seed{seed}", folder)
        model = folder / f"export-{number}-seed{seed}.tflite"
        try:
            report, refused = convert_run(run, model, qat_epochs=QAT_EPOCHS if qat else 0), None
        except ConversionError as error:  # the guard refused it: its figures are in the rejected report
            rejected = model.with_name(f"{model.stem}.rejected.report.json")
            if not rejected.is_file():  # refused before anything was measured
                raise
            report, refused = json.loads(rejected.read_text()), str(error)
        results.append({**_figures(seed, run, model, report), "refused": refused})
        print(f"seed {seed} ({how}): int8 accuracy {100 * results[-1]['int8_accuracy']:.2f}%, macro-F1 "
              f"{results[-1]['int8_macro_f1']:.4f}, {report['size_bytes']:,} B"
              + (f"; conversion refused: {refused}" if refused else ""), file=sys.stderr, flush=True)
    cv = trials_of(study)[number].user_attrs["cv"]
    summary = {"trial": number, "recipe": config.to_dict(), "qat": qat, "cv": {k: v for k, v in cv.items() if k != "folds"},
               "seeds": results, **_spread(results)}
    atomic_write(folder / f"export-{number}.json", json.dumps(summary, indent=2))
    atomic_write(folder / f"export-{number}.md", markdown(summary))
    return summary


def _figures(seed: int, run: Path, model: Path, report: dict) -> dict:
    int8 = report["int8"]
    return {"seed": seed, "run": run.name, "model": model.name, "int8_accuracy": int8["accuracy"],
            "int8_macro_f1": int8["macro_f1"], "float_accuracy": report["float"]["accuracy"],
            "size_bytes": report["size_bytes"], "arena_bytes": report.get("arena_bytes"),
            "worst_subject_accuracy": min(s["accuracy"] for s in report["per_subject"].values()),
            "worst_sensor_error_drop_points": report["robustness"]["worst_drop_points"],
            "gyro_mean_removed_drop_points": report["robustness"].get("gyro_mean_removed", {}).get("drop_points"),
            "int8_recall": {n: c["recall"] for n, c in int8["per_class"].items()}}


def _spread(results: list[dict]) -> dict:
    """Mean and spread over every seed, refused conversions included (their figures are measured too)."""
    out = {"refused_seeds": [r["seed"] for r in results if r["refused"]]}
    for name in ("int8_accuracy", "int8_macro_f1", "worst_subject_accuracy", "worst_sensor_error_drop_points"):
        values = np.array([r[name] for r in results])
        out[f"{name}_mean"], out[f"{name}_std"] = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def markdown(summary: dict) -> str:
    rows = [(r["seed"], f"{100 * r['int8_accuracy']:.2f}%", f"{r['int8_macro_f1']:.4f}", f"{r['size_bytes']:,} B",
             f"{r['arena_bytes']:,} B" if r["arena_bytes"] else "n/a", "refused: " + r["refused"][:160] if r["refused"]
             else "published") for r in summary["seeds"]]
    lines = [f"# Trial {summary['trial']} exported: test subjects, once per seed", "",
             markdown_table(["seed", "int8 accuracy", "int8 macro-F1", "model", "TFLM arena", "conversion"], rows), ""]
    if "int8_accuracy_mean" in summary:
        lines += [f"Mean over seeds: int8 accuracy {100 * summary['int8_accuracy_mean']:.2f}% +- "
                  f"{100 * summary['int8_accuracy_std']:.2f}, macro-F1 {summary['int8_macro_f1_mean']:.4f} +- "
                  f"{summary['int8_macro_f1_std']:.4f}; the search's CV int8 macro-F1 was "
                  f"{summary['cv']['int8_macro_f1']:.4f}.", ""]
    return "\n".join(lines)
