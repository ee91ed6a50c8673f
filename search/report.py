"""What a search leaves in RUNS/search-NAME/: every trial's figures (trials.json, trials.csv), the Pareto
front as a Markdown table (pareto.md) and a plot of int8 CV macro-F1 against flash, coloured by arena
(pareto.png). Read from the study storage, so any worker or machine can write it at any time."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from device_runtime.contract_checks import is_number
from device_runtime.files import atomic_write
from search.budget import COST_KEYS, shown
from train.report_table import markdown_table

COLUMNS = ["trial", "state", "family", "int8_macro_f1", "int8_macro_f1_std", "int8_accuracy", "float_macro_f1",
           "flash_bytes", "arena_bytes", "macs", "instructions", "params", "seconds", "repeat_of", "choices",
           "pruned_because", "failed_because"]


class DamagedStudy(ValueError):
    """A study database Optuna cannot decode: it trusts every stored value, so a crafted one fails deep inside."""


def trials_of(study, best: bool = False) -> list:
    """The study's trials (or its Pareto-best ones), decoded by Optuna; a database it cannot decode is
    refused with a message instead of the assertion or index error it raises."""
    try:
        return list(study.best_trials if best else study.get_trials(deepcopy=False))
    except (AssertionError, LookupError, TypeError, ValueError, RecursionError) as error:
        raise DamagedStudy(f"study '{study.study_name}' cannot be read ({type(error).__name__}: "
                           f"{' '.join(str(error).split())[:120]}): a damaged or crafted database; give this search "
                           "another --name") from None


def rows(study) -> list[dict]:
    """One flat row per trial, in trial order; a value of the wrong type (a study database is data: never
    trust its shape) is left out, as if the trial had not recorded it."""
    out = []
    for t in trials_of(study):
        attrs = t.user_attrs
        cost, cv = _mapping(attrs.get("cost")), _mapping(attrs.get("cv"))
        reasons = attrs.get("pruned_because")
        row = {"trial": t.number, "state": t.state.name.lower(), "family": t.params.get("family"),
               **{k: _number(cv.get(k)) for k in ("int8_macro_f1", "int8_macro_f1_std", "int8_accuracy", "float_macro_f1")},
               **{k: _number(cost.get(k)) for k in ("flash_bytes", "arena_bytes", "macs", "instructions", "params")},
               "seconds": _number(attrs.get("seconds")), "repeat_of": _number(attrs.get("repeat_of")), "choices": t.params,
               "pruned_because": "; ".join(r for r in reasons if isinstance(r, str)) if isinstance(reasons, list) else "",
               "failed_because": attrs.get("failed_because") if isinstance(attrs.get("failed_because"), str) else None}
        out.append(row)
    return out


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def _number(value) -> int | float | None:
    """`value` if it is a finite number (not a bool), else None."""
    return value if is_number(value) else None


def settings_of(study) -> dict:
    """The settings the study was created with, those the reports print kept only where they have the shape
    `har search` gives them (a study database is data: a crafted one must not write headings into pareto.md)."""
    settings = _mapping(study.user_attrs.get("settings"))
    budget = _mapping(settings.get("budget"))
    counts = {k: settings.get(k) for k in ("cv", "epochs")}
    return {**settings, "budget": {k: v for k, v in budget.items() if k in COST_KEYS and _number(v) is not None},
            **{k: v if isinstance(v, int) and not isinstance(v, bool) else "?" for k, v in counts.items()},
            "compute": settings.get("compute") if settings.get("compute") in ("macs", "instructions") else "macs"}


def front(study) -> list[int]:
    """Trial numbers of the Pareto front over the finished trials, best macro-F1 first (a recipe proposed
    again appears once, as the trial that trained it)."""
    best = sorted(trials_of(study, best=True), key=lambda t: -t.values[0]) if _finished(study) else []
    return [t.number for t in best if "repeat_of" not in t.user_attrs and scored(t.user_attrs)]


def scored(attrs: dict) -> bool:
    """A trained trial's figures are all there (a study database is data: never trust its shape)."""
    cv, cost = attrs.get("cv"), attrs.get("cost")
    return (isinstance(cv, dict) and isinstance(cost, dict)
            and all(_number(cv.get(k)) is not None for k in ("int8_macro_f1", "int8_macro_f1_std", "int8_accuracy"))
            and all(isinstance(cost.get(k), int) and not isinstance(cost.get(k), bool) for k in ("flash_bytes", "arena_bytes", "macs"))
            and (cost.get("instructions") is None or _number(cost.get("instructions")) is not None))


def _finished(study) -> bool:
    import optuna

    return any(t.state == optuna.trial.TrialState.COMPLETE for t in trials_of(study))


def write(study, folder: Path) -> dict:
    """Write every report file; return {"trials": rows, "front": numbers, "settings": the study's}."""
    table, numbers = rows(study), front(study)
    settings = settings_of(study)
    atomic_write(folder / "trials.json", json.dumps({"settings": settings, "front": numbers, "trials": table}, indent=2))
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS)
    writer.writeheader()
    writer.writerows({**r, "choices": json.dumps(r["choices"], sort_keys=True)} for r in table)
    atomic_write(folder / "trials.csv", text.getvalue())
    atomic_write(folder / "pareto.md", markdown(table, numbers, settings))
    if numbers:
        atomic_write(folder / "pareto.png", plot(table, numbers, settings))
    return {"trials": table, "front": numbers, "settings": settings}


def markdown(table: list[dict], numbers: list[int], settings: dict) -> str:
    by_number = {r["trial"]: r for r in table}
    states = {s: sum(r["state"] == s for r in table) for s in ("complete", "pruned", "fail", "running")}
    compute = settings.get("compute", "macs")
    lines = [
        f"# Search: Pareto front of {states['complete']} trained trials",
        "",
        f"{len(table)} trials: {states['complete']} trained, {states['pruned']} pruned over budget before training, "
        f"{states['fail']} failed ({failed_text(table)}), {states['running']} running. Objectives: int8 macro-F1 over {settings.get('cv')}-fold "
        f"grouped cross-validation of the training subjects ({settings.get('epochs')} epochs per fold; the test "
        f"subjects are never scored here), int8 flash, and {compute}. Budget: {shown(settings.get('budget', {}))}.",
        "",
        markdown_table(
            ["trial", "family", "CV int8 macro-F1", "CV int8 accuracy", "flash", "arena", "MACs", "M4 instructions", "choices"],
            [(n, by_number[n]["family"], f"{by_number[n]['int8_macro_f1']:.4f} +- {by_number[n]['int8_macro_f1_std']:.4f}",
              f"{100 * by_number[n]['int8_accuracy']:.2f}%", f"{by_number[n]['flash_bytes']:,} B",
              f"{by_number[n]['arena_bytes']:,} B", f"{by_number[n]['macs']:,}",
              f"{by_number[n]['instructions']:,}" if by_number[n]["instructions"] else "not measured",
              choices_text(by_number[n]["choices"])) for n in numbers]),
        "",
        "`har search --name NAME --export TRIAL` trains a front recipe on the standard split and scores the test "
        "subjects once per seed.",
        "",
    ]
    return "\n".join(lines)


def failed_text(table: list[dict]) -> str:
    """Why trials failed: the recorded reasons, or a worker stopped mid-trial (the trial is then retried)."""
    failed = [r for r in table if r["state"] == "fail"]
    stopped = sum(not r.get("failed_because") for r in failed)
    reasons = sorted({r["failed_because"].split(":")[0] for r in failed if r.get("failed_because")})
    return "; ".join(filter(None, [f"{stopped} with no recorded reason: a worker stopped mid-trial, retried with the same recipe" if stopped else "",
                                   f"errors: {', '.join(reasons)} (trials.csv)" if reasons else ""])) or "none"


def choices_text(params: dict) -> str:
    """A trial's choices on one line: family-specific names without their prefix, floats short."""
    family = params.get("family", "")

    def name(key: str) -> str:
        return key.split("_", 1)[1] if key.startswith(f"{family}_") else key

    return ", ".join(f"{name(k)}={v:g}" if isinstance(v, float) else f"{name(k)}={v}"
                     for k, v in params.items() if k != "family")


def plot(table: list[dict], numbers: list[int], settings: dict) -> bytes:
    from train.evaluate_plots import png
    from train.metrics import pyplot

    plt = pyplot()

    done = [r for r in table if r["state"] == "complete" and r["int8_macro_f1"] is not None and r["flash_bytes"] is not None
            and r["arena_bytes"] is not None]
    figure, axes = plt.subplots(figsize=(8, 5))
    points = axes.scatter([r["flash_bytes"] / 1024 for r in done], [r["int8_macro_f1"] for r in done],
                          c=[r["arena_bytes"] / 1024 for r in done], cmap="viridis", s=30)
    figure.colorbar(points, label="TFLM arena (KB)")
    best = [r for r in done if r["trial"] in numbers]  # a front in three objectives: ringed, not joined
    axes.scatter([r["flash_bytes"] / 1024 for r in best], [r["int8_macro_f1"] for r in best], s=110,
                 facecolors="none", edgecolors="tab:red", label=f"Pareto front (macro-F1, flash, {settings.get('compute')})")
    for r in best:
        axes.annotate(str(r["trial"]), (r["flash_bytes"] / 1024, r["int8_macro_f1"]), fontsize=7,
                      xytext=(5, 5), textcoords="offset points")
    flash = settings.get("budget", {}).get("flash")
    if flash:
        axes.axvline(flash / 1024, color="grey", linestyle="--", linewidth=1, label="flash budget")
    axes.set_xlabel("int8 model, flash (KB)")
    axes.set_ylabel(f"int8 macro-F1, {settings.get('cv')}-fold CV")
    axes.legend(loc="best", fontsize=8)
    return png(figure)
