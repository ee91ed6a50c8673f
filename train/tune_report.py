"""What `har tune` reports: each fold's (or seed's) figures, their mean and standard deviation, and the
gap between the cross-validation figure and the test subjects' one, as JSON values and Markdown."""
from __future__ import annotations

import json

import numpy as np

from train.report_table import markdown_table

SHOWN = (("accuracy", "accuracy", True), ("macro_f1", "macro-F1", False), ("worst_subject_accuracy", "worst subject", True),
         ("gyro_mean_removed_drop_points", "gyro mean removed: drop", None),
         ("gyro_bias_0.1rad_s_drop_points", "gyro bias 0.1 rad/s: drop", None),
         ("gyro_bias_0.3rad_s_drop_points", "gyro bias 0.3 rad/s: drop", None),
         ("worst_drop_points", "sensor errors: worst drop", None))


def figures(result: dict) -> dict[str, float]:
    """The numbers one fold or seed is summarised by: overall, its worst subject, and each robustness case."""
    out = {"accuracy": result["accuracy"], "macro_f1": result["macro_f1"],
           "worst_subject_accuracy": min(f["accuracy"] for f in result["per_subject"].values())}
    for case, value in result["robustness"].items():
        if isinstance(value, dict) and "drop_points" in value:
            out[f"{case}_accuracy"], out[f"{case}_drop_points"] = value["accuracy"], value["drop_points"]
    if "worst_drop_points" in result["robustness"]:
        out["worst_drop_points"] = result["robustness"]["worst_drop_points"]
    return out


def summarise(results: list[dict]) -> dict:
    """{"mean": {figure: value}, "std": {figure: sample standard deviation (0 for one result)}}."""
    table = [figures(r) for r in results]
    names = [n for n in table[0] if all(n in row for row in table)]
    values = {n: np.array([row[n] for row in table], dtype=np.float64) for n in names}
    return {"mean": {n: float(v.mean()) for n, v in values.items()},
            "std": {n: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for n, v in values.items()}}


def _cell(value: float, percent: bool | None) -> str:
    return f"{100 * value:.2f}%" if percent else f"{value:.4f}" if percent is False else f"{value:+.2f}"


def _row(figures_of: dict) -> list[str]:
    return [_cell(figures_of[n], p) if n in figures_of else "n/a" for n, _, p in SHOWN]


def _spread_row(mean: dict, std: dict) -> list[str]:
    return [f"{_cell(mean[n], p)} ± {_cell(std[n], p).lstrip('+')}" if n in mean else "n/a" for n, _, p in SHOWN]


RECIPE_DATA_KEYS = ("window", "stride", "min_purity", "scaling", "fine_motion", "vertical")


def progress_line(label: str, result: dict, how: str) -> str:
    """One line per fold or seed for stderr."""
    shown = ", ".join(f"{title} {cell}" for (_, title, _), cell in zip(SHOWN, _row(figures(result))))
    return f"har tune: {label} ({how}; subjects {' '.join(result['subjects'])}): {shown}"


def _recipe_lines(recipe: dict) -> list[str]:
    """The recipe's [model] and [train], and the [data] choices a recipe may make (not where the data is nor
    which subjects each fold holds out)."""
    data = {k: v for k, v in recipe.get("data", {}).items() if k in RECIPE_DATA_KEYS}
    return [f"Recipe: `[data] {json.dumps(data)}`, `[model] {json.dumps(recipe['model'])}`, "
            f"`[train] {json.dumps(recipe['train'])}`.", ""]


def cv_markdown(report: dict) -> str:
    headers = ["fold", "seed", "held-out subjects", "windows"] + [title for _, title, _ in SHOWN]
    rows = [[str(f["fold"]), str(f.get("seed", "")), " ".join(f["subjects"]), str(f["windows"])] + _row(figures(f))
            for f in report["folds"]]
    rows.append(["mean ± sd", "", "", ""] + _spread_row(report["mean"], report["std"]))
    return "\n".join([
        f"# Cross-validation: {report['k']} folds over the subjects outside the test split", "",
        *_recipe_lines(report["recipe"]),
        f"Each fold trains the recipe on the other folds' subjects and scores the final float model on its own, "
        f"at the end of training (drops in accuracy points against that fold's clean figure). The test subjects "
        f"({' '.join(report['test_subjects_held_out'])}) are in no fold and were not scored.", "",
        markdown_table(headers, rows), "", *_ensemble_lines(report),
    ])


def _ensemble_lines(report: dict) -> list[str]:
    """Each fold's seeds averaged: how much of the spread above is the seeds', and what averaging them buys."""
    if "seed_ensemble" not in report:
        return []
    ensemble = report["seed_ensemble"]
    shown = SHOWN[:3]
    rows = [[str(f["fold"]), " ".join(f["runs"])] + [_cell(figures(f)[n], p) for n, _, p in shown] for f in ensemble["folds"]]
    rows.append(["mean ± sd", ""] + [f"{_cell(ensemble['mean'][n], p)} ± {_cell(ensemble['std'][n], p)}" for n, _, p in shown])
    return [f"Each fold's {report['seeds']} seeds averaged (the mean of their softmax outputs), the same held-out "
            f"subjects; the lowest worst subject of any single seed above: "
            f"{100 * report['lowest_worst_subject_accuracy']:.2f}%.", "",
            markdown_table(["fold", "runs averaged"] + [title for _, title, _ in shown], rows), ""]


def final_markdown(report: dict) -> str:
    headers = ["", "windows"] + [title for _, title, _ in SHOWN]
    rows = [[f"test, seed {r['seed']}", str(r["windows"])] + _row(figures(r)) for r in report["test"]]
    rows.append(["test: mean ± sd", ""] + _spread_row(report["test_mean"], report["test_std"]))
    rows.append([f"cross-validation ({report['cv']['k']} folds): mean ± sd", ""] +
                _spread_row(report["cv"]["mean"], report["cv"]["std"]))
    subjects = list(report["test"][0]["per_subject"])
    per_subject = [[s] + [f"{100 * r['per_subject'][s]['accuracy']:.2f}%" for r in report["test"]] for s in subjects]
    gap = report["cv_minus_test_points"]
    return "\n".join([
        "# Final runs: the recipe on the standard split, test subjects scored once", "",
        *_recipe_lines(report["recipe"]),
        markdown_table(headers, rows), "",
        f"Cross-validation minus test: accuracy {gap['accuracy']:+.2f} points, macro-F1 {gap['macro_f1']:+.2f} points "
        "(positive: the test subjects are harder than the cross-validation suggested).", "",
        "Each test subject's accuracy (float model):", "",
        markdown_table(["subject"] + [f"seed {r['seed']}" for r in report["test"]], per_subject), "",
    ])
