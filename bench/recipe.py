"""The recipe choice, measured: the first default CNN, one without its gyro-mean shortcut, and the model
`har search` found within a Cortex-M4 budget (BENCHMARKS.md, "Architecture search").

Every recipe is scored by 3-fold cross-validation over the 21 subjects outside the test split (`har tune`,
whole subjects per fold, final float model, with the gyro window mean removed and a 0.1 rad/s gyro bias).
The recipe in configs/default.toml is then trained on the standard split over 3 seeds (`har tune --final`),
converted to int8 with `har convert`, and scored once on the test subjects, robustness included. Every
run is resumable: a rerun reuses finished folds and seeds.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench.recipe_candidates import CANDIDATES, CHOSEN, FOLDS, OVER_BUDGET, REPO, ROUNDS, SEEDS
from bench.recipe_rules import PAIRED_FROM, variants


def _tune(runs: Path, name: str, extra: list[str]) -> list[str]:
    return ["tune", "--cv", str(FOLDS), "--name", name, "--runs", str(runs), *extra]


def shown_command(runs: Path, command: list[str]) -> str:
    """A `har` command as BENCHMARKS shows and bench/results.json records it: RUNS for the folder, paths relative."""
    return "har " + " ".join("RUNS" if a == str(runs) else a.replace(f"{REPO}/", "") for a in command)


def measure(runs: str | Path, recorded: dict | None = None) -> dict:
    """Cross-validate every candidate, then the default's seeds on the test subjects, as int8. A candidate whose
    runs are not in `runs` keeps its figures from `recorded` (bench/results.json's section) if its command is
    unchanged, dated when and where they were measured: the whole study retrains in about ten hours, and a run
    retrained on the same CPU reproduces its recorded figures to the last digit. The chosen recipe is always
    measured."""
    import json

    from bench.measure import machine
    from convert.pipeline import convert_run
    from har import main as har

    runs = Path(runs).resolve()
    start = [r[0] for r in ROUNDS].index(PAIRED_FROM)
    out: dict = {"folds": FOLDS, "seeds": SEEDS, "candidates": {}, "final": [],
                 "over_budget": {CANDIDATES[name][0]: reason for name, reason in OVER_BUDGET.items()},
                 "rounds": [{"name": name, "against": CANDIDATES[against][0], "scored": [CANDIDATES[c][0] for c in scored],
                             "paired": i >= start} for i, (name, against, scored) in enumerate(ROUNDS)]}
    for name, (label, extra) in CANDIDATES.items():
        final = ["--final", "--seeds", str(SEEDS)] if name == CHOSEN else []
        command = _tune(runs, name, extra + final)
        shown = shown_command(runs, command)
        kept = _kept(recorded, runs, name, shown)
        if kept:
            out["candidates"][label] = kept
            continue
        if final:
            _finals_from_default(runs, name)
        if har(command) != 0:
            raise ValueError(f"har {' '.join(command)} failed")
        cv = json.loads((runs / f"tune-{name}" / "cv.json").read_text())
        out["candidates"][label] = {"command": shown, "mean": cv["mean"], "std": cv["std"],
                                    "seeds": cv.get("seeds", 1), "ensemble": cv.get("seed_ensemble", {}).get("mean"),
                                    "runs": {f"{f['fold']}-{f.get('seed', 0)}": f["macro_f1"] for f in cv["folds"]},
                                    "measured": time.strftime("%Y-%m-%d"), "machine": machine()}
        out["candidates"][label]["earlier"] = _earlier(recorded, label, machine())
        if final:
            out["chosen"] = label
            for seed in range(SEEDS):
                run = runs / f"tune-{name}" / f"final-seed{seed}"
                report = convert_run(run, run / "model.tflite", max_drop=100.0, max_class_drop=100.0)
                out["final"].append(_figures(seed, report))
    return out


def _finals_from_default(runs: Path, name: str) -> None:
    """The chosen recipe is configs/default.toml's, so its final runs are make bench's default CNNs of the same
    seeds (runs/cnn-seedS, trained just before): a final run of an older default (another split, say) is
    replaced by a copy of the current one instead of being refused as another recipe."""
    import shutil

    from bench.measure import bench_recipe
    from train.run import is_finished, same_recipe

    for seed in range(SEEDS):
        default, final = runs / f"cnn-seed{seed}", runs / f"tune-{name}" / f"final-seed{seed}"
        current = bench_recipe("cnn", seed)
        if not (is_finished(default) and same_recipe(default, current)) or same_recipe(final, current):
            continue
        if final.exists():
            shutil.rmtree(final)
        shutil.copytree(default, final, symlinks=True)
        print(f"bench: {final.name} of {name} is {default.name}, the same recipe and seed", flush=True)


def _kept(recorded: dict | None, runs: Path, name: str, command: str) -> dict | None:
    """The recorded figures of a candidate other than the chosen one, without runs in `runs`, whose command is
    unchanged (dated: the section's date where the entry predates per-candidate dates); None: measure it."""
    entry = (recorded or {}).get("candidates", {}).get(CANDIDATES[name][0])
    if name == CHOSEN or (runs / f"tune-{name}").exists() or not entry or entry.get("command") != command:
        return None
    return {**entry, "measured": entry.get("measured", recorded.get("date", "unknown")),
            "machine": entry.get("machine", recorded.get("machine", "unknown")), "kept": True}


def _earlier(recorded: dict | None, label: str, machine: str) -> dict | None:
    """A candidate's figures from another machine, kept for the candidates measured there to pair with."""
    entry = (recorded or {}).get("candidates", {}).get(label)
    if not entry:
        return None
    if entry.get("machine", recorded.get("machine")) == machine:
        return entry.get("earlier")
    return {**{key: entry[key] for key in ("mean", "std", "runs", "measured") if key in entry},
            "machine": entry.get("machine", recorded.get("machine"))}


def _figures(seed: int, report: dict) -> dict:
    robust = report["robustness"]
    return {"seed": seed, "float_accuracy": report["float"]["accuracy"], "int8_accuracy": report["int8"]["accuracy"],
            "int8_macro_f1": report["int8"]["macro_f1"], "worst_drop_points": robust["worst_drop_points"],
            "gyro_mean_removed_drop": robust["gyro_mean_removed"]["drop_points"],
            "worst_subject_accuracy": min(s["accuracy"] for s in report["per_subject"].values()),
            "per_subject": {subject: s["accuracy"] for subject, s in report["per_subject"].items()},
            "rotation_worst_drop": max(r["drop_points"] for r in robust["rotation"].values()),
            "rotation": {name: r["drop_points"] for name, r in robust["rotation"].items()},
            "size_bytes": report["size_bytes"]}


def _cv_row(label: str, c: dict) -> str:
    m, s = c["mean"], c["std"]
    worst = f"{m['worst_drop_points']:+.2f}" if "worst_drop_points" in m else "not scored"  # before har tune scored all
    ensemble = c.get("ensemble")
    averaged = f"{ensemble['macro_f1']:.4f} / {100 * ensemble['worst_subject_accuracy']:.1f}%" if ensemble else ""
    return (f"| {label} | {c.get('seeds', 1)} | {m['macro_f1']:.4f} ± {s['macro_f1']:.4f} "
            f"| {100 * m['accuracy']:.2f}% ± {100 * s['accuracy']:.2f} "
            f"| {100 * m['worst_subject_accuracy']:.1f}% | {m['gyro_mean_removed_drop_points']:+.2f} "
            f"| {m['gyro_bias_0.1rad_s_drop_points']:+.2f} ± {s['gyro_bias_0.1rad_s_drop_points']:.2f} | {worst} "
            f"| {averaged} | {c.get('measured', '')}{', ' + c['machine'].split(',')[0] if c.get('machine') else ''}"
            f"{', kept' if c.get('kept') else ''}{_earlier_words(c.get('earlier'))} |")


def _earlier_words(earlier: dict | None) -> str:
    if not earlier:
        return ""
    return (f" (on {earlier['machine'].split(',')[0]}, {earlier.get('measured', '')}: "
            f"{earlier['mean']['macro_f1']:.4f} ± {earlier['std']['macro_f1']:.4f})")


def markdown(results: dict) -> str:
    lines = [
        "## Recipe choice (cross-validation over the training subjects; the test subjects scored once, after)", "",
        f"{results['folds']}-fold cross-validation over the 21 subjects outside the test split (whole subjects per "
        "fold; each fold trains on the other two and scores its own at the end of training, float). Drops are "
        "accuracy points against the fold's clean figure. From the 60-epoch round on, every fold is trained with 3 "
        "seeds (`--cv-seeds 3`): the mean and spread are then over folds and seeds (one seed moves a hard subject "
        "by several points), and the last column scores each fold's seeds averaged (macro-F1 / worst subject), "
        "what an ensemble of them would do. The last column dates each row's figures; \"kept\": the recipe's runs "
        "were not in the study's folder, so its recorded figures were kept (its command below measures it again; "
        "retrained on the same CPU, a run gives the same figures to the last digit; on another CPU they move a "
        "little: the one-network default's 9 runs by up to 0.003 in macro-F1 between an AMD EPYC and an Intel Xeon "
        "with AVX-512, so a paired comparison takes both sides from one machine).", "",
        "| recipe | seeds per fold | CV macro-F1 | CV accuracy | worst subject | gyro mean removed "
        "| gyro bias 0.1 rad/s | sensor errors: worst drop | seeds averaged | measured |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *[_cv_row(label, c) for label, c in results["candidates"].items()], "",
        "Rules, each applied to these CV figures only (and to a default's firmware, which must fit 160 KB of flash "
        "and 16 KB of RAM): a recipe replaces the default if its CV macro-F1 is higher, "
        "or (fixed before the second recipe's figures were read) if it is within one standard deviation of the "
        "default's and clearly less sensitive to sensor errors. From the round against the postures at 15° on "
        "(fixed before its figures were read), higher means above seed noise: the mean of the paired (fold, seed) "
        "macro-F1 differences against the default more than twice its standard error. The second replaced the first (gyro bias), the "
        "third the second (higher macro-F1, found by `har search` within 20 KB of flash, 8 KB of arena and 1 M "
        "Cortex-M4 instructions), the fourth the third (within its spread, and far less hurt by a 0.3 rad/s "
        f"gyro bias, which `har tune` scores on every fold since). {variants(results)} "
        f"Chosen, and now configs/default.toml: **{results['chosen']}**. Commands: "
        + "; ".join(f"`{c['command']}`" for c in results["candidates"].values()) + ".", "",
        f"The chosen recipe on the standard split, {results['seeds']} seeds, int8 (`har convert`), test subjects:", "",
        "| seed | float acc | int8 acc | int8 macro-F1 | worst subject | sensor errors: worst drop "
        "| gyro mean removed | rotation: worst drop | size |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in results["final"]:
        lines.append(f"| {f['seed']} | {100 * f['float_accuracy']:.2f}% | {100 * f['int8_accuracy']:.2f}% | "
                     f"{f['int8_macro_f1']:.4f} | {100 * f['worst_subject_accuracy']:.1f}% | {f['worst_drop_points']:+.2f} "
                     f"| {f['gyro_mean_removed_drop']:+.2f} | {f['rotation_worst_drop']:+.2f} | {f['size_bytes']:,} B |")
    int8 = [100 * f["int8_accuracy"] for f in results["final"]]
    cv = results["candidates"][results["chosen"]]["mean"]["accuracy"] * 100
    lines += ["", f"int8 test accuracy mean {statistics.mean(int8):.2f}% (min {min(int8):.2f}%), against a CV "
              f"accuracy of {cv:.2f}%: a gap of {statistics.mean(int8) - cv:+.2f} points (the folds train on 14 "
              "subjects, the final model on 21)."]
    return "\n".join(lines + _subjects(results["final"]) + _mounting(results["final"]))


def _subjects(final: list[dict]) -> list[str]:
    """Each test subject's int8 accuracy per seed: a model that fails one person hides in the mean."""
    if not all("per_subject" in f for f in final):
        return []
    subjects = list(final[0]["per_subject"])
    rows = [f"| {subject} | " + " | ".join(f"{100 * f['per_subject'][subject]:.1f}%" for f in final)
            + f" | {100 * statistics.mean(f['per_subject'][subject] for f in final):.1f}% |" for subject in subjects]
    return ["", "Each test subject's int8 accuracy:", "",
            "| subject | " + " | ".join(f"seed {f['seed']}" for f in final) + " | mean |",
            "|---|" + "---|" * (len(final) + 1), *rows]


def _mounting(final: list[dict]) -> list[str]:
    """What the rotation cases mean for whoever mounts the sensor: mean drop over seeds per case."""
    if not all("rotation" in f for f in final):
        return []
    cases = list(final[0]["rotation"])
    mean = {case: statistics.mean(f["rotation"][case] for f in final) for case in cases}
    cells = " | ".join(f"{mean[c]:+.2f}" for c in cases)
    worst = {deg: max(v for c, v in mean.items() if f"_{deg}deg_" in c) for deg in (5, 10)}
    return ["", "Rotated sensor (accuracy points lost, mean over the seeds; posture is read from the direction of "
            "gravity, so these are reported apart from the sensor errors):", "",
            "| " + " | ".join(c.replace("rotated_", "").replace("deg_", "° about ") for c in cases) + " |",
            "|" + "---|" * len(cases), f"| {cells} |", "",
            f"For mounting: a sensor turned 5° from the training orientation costs up to {worst[5]:.1f} points, 10° "
            f"up to {worst[10]:.1f}. " + (
                "A mount within 10° of the recordings' (for HAPT: a phone on the waist) is enough; "
                "for a mount further off, record training data with the mount the device will have."
                if worst[10] <= 1.0 else
                "Mount it as the recordings were made (for HAPT: a phone on the waist) within a few degrees, or "
                "record training data with the mount the device will have.")]
