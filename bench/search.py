"""The architecture search section: the documented `har search`, its Pareto front, the front models
exported and scored on the test subjects, and post-training against quantization-aware int8.

It reads RUNS/search-m4, made by SEARCH_COMMAND and `har search --name m4 --export K --seeds 3` for
the front models (the search takes hours on 2 cores, so `make bench` does not rerun it), and compares
`har convert` with and without --qat on the default recipe (trained into RUNS/search-m4/default-recipe)
and on the smallest exported front model's seed-0 run.
"""
from __future__ import annotations

import json
from pathlib import Path

from search.report import choices_text, failed_text
from train.qat import EPOCHS as QAT_EPOCHS
from train.report_table import markdown_table

NAME = "m4"
SEARCH_COMMAND = ("har search --budget flash=20KB,arena=8KB,instructions=1M --trials 40 --epochs 15 --cv 3 "
                  "--workers 2 --name m4 --time 80m")


def qat_vs_ptq(run: Path, out: Path) -> dict:
    """The run converted twice, post-training and quantization-aware; the guard is opened wide so both
    publish and every figure is shown."""
    from convert.pipeline import convert_run

    figures = {}
    for label, epochs in (("ptq", 0), ("qat", QAT_EPOCHS)):
        report = convert_run(run, out / f"{label}.tflite", max_drop=100.0, max_class_drop=100.0, qat_epochs=epochs)
        figures[label] = {"accuracy": report["int8"]["accuracy"], "macro_f1": report["int8"]["macro_f1"],
                          "float_accuracy": report["float"]["accuracy"], "size_bytes": report["size_bytes"],
                          "recall": {n: c["recall"] for n, c in report["int8"]["per_class"].items()}}
    return figures


def measure(runs: str | Path) -> dict:
    from train.config import load_config
    from train.run_config import RunConfig
    from train.tune import trained

    runs = Path(runs).resolve()
    folder = runs / f"search-{NAME}"
    trials = json.loads((folder / "trials.json").read_text())
    exports = [json.loads(p.read_text()) for p in sorted(folder.glob("export-*.json"))
               if p.stem.removeprefix("export-").isdigit()]  # export-K.json, not a seed's conversion report
    default_config = RunConfig.from_dict(load_config(Path(__file__).resolve().parent.parent / "configs" / "default.toml"))
    default_run, _ = trained(default_config, "default-recipe", folder)
    qat = {"default": qat_vs_ptq(default_run, folder / "qat-default")}
    if exports:
        smallest = min(exports, key=lambda e: e["seeds"][0]["size_bytes"])
        qat[f"trial {smallest['trial']}"] = qat_vs_ptq(folder / smallest["seeds"][0]["run"], folder / f"qat-{smallest['trial']}")
    return {"search_command": SEARCH_COMMAND, "trials": trials, "exports": exports, "qat": qat, "qat_epochs": QAT_EPOCHS}


def _trial_rows(trials: list[dict], front: list[int]) -> list[tuple]:
    by_number = {t["trial"]: t for t in trials}
    return [(n, by_number[n]["family"], f"{by_number[n]['int8_macro_f1']:.4f} +- {by_number[n]['int8_macro_f1_std']:.4f}",
             f"{by_number[n]['flash_bytes']:,} B", f"{by_number[n]['arena_bytes']:,} B",
             f"{by_number[n]['instructions'] / 1e6:.2f} M" if by_number[n]["instructions"] else "n/a",
             choices_text(by_number[n]["choices"])) for n in front]


def _export_rows(exports: list[dict]) -> list[tuple]:
    rows = []
    for e in exports:
        seed0 = e["seeds"][0]
        rows.append((e["trial"], f"{e['cv']['int8_macro_f1']:.4f}",
                     f"{100 * e['int8_accuracy_mean']:.2f}% +- {100 * e['int8_accuracy_std']:.2f}",
                     f"{e['int8_macro_f1_mean']:.4f} +- {e['int8_macro_f1_std']:.4f}",
                     f"{100 * e['worst_subject_accuracy_mean']:.1f}%", f"{seed0['size_bytes']:,} B",
                     f"{seed0['arena_bytes']:,} B" if seed0.get("arena_bytes") else "n/a",
                     ", ".join(map(str, e["refused_seeds"])) or "none"))
    return rows


def _size_note(results: dict) -> str:
    """Where the shipped files outweigh the study's flash figure for the same trial, say by how much."""
    flash = {t["trial"]: t["flash_bytes"] for t in results["trials"]["trials"]}
    extra = [e["seeds"][0]["size_bytes"] - flash[e["trial"]] for e in results["exports"] if flash.get(e["trial"])]
    if not extra or max(extra) < 100:
        return ""
    return (f" Their files are {min(extra):,}-{max(extra):,} B larger than the study's flash for the same trial: "
            "the contract's record of the data the model was tested on, which the cost measure of this study left "
            "out (`har search` counts it since).")


def _qat_rows(qat: dict) -> list[tuple]:
    rows = []
    for model, figures in qat.items():
        for label in ("ptq", "qat"):
            f = figures[label]
            rows.append((model, label.upper(), f"{100 * f['float_accuracy']:.2f}%", f"{100 * f['accuracy']:.2f}%",
                         f"{f['macro_f1']:.4f}", f"{f['size_bytes']:,} B",
                         " ".join(f"{n} {100 * r:.1f}" for n, r in f["recall"].items())))
    return rows


def markdown(results: dict) -> str:
    trials, settings = results["trials"]["trials"], results["trials"]["settings"]
    states = {s: sum(t["state"] == s for t in trials) for s in ("complete", "pruned", "fail")}
    return "\n".join([
        "## Architecture search (`har search`)", "",
        f"`{results['search_command']}`: {len(trials)} trials, {states['complete']} trained by {settings['cv']}-fold "
        f"grouped cross-validation over the 21 non-test subjects ({settings['epochs']} epochs per fold), "
        f"{states['pruned']} pruned over budget before training (their untrained int8 conversion measured flash, arena "
        f"and Cortex-M4 CMSIS-NN instructions under QEMU), {states['fail']} failed ({failed_text(trials)}). The test "
        "subjects were not scored "
        "by the search. Pareto front (CV int8 macro-F1, flash, instructions); `RUNS/search-m4/pareto.png` plots it:", "",
        markdown_table(["trial", "family", "CV int8 macro-F1", "flash", "arena", "M4 instructions", "choices"],
                       _trial_rows(trials, results["trials"]["front"])), "",
        "Front models exported (`har search --name m4 --export K --seeds 3`: the recipe as the search scored it, "
        "trained on the standard split, converted by `har convert`, test subjects scored once per seed)."
        + _size_note(results), "",
        markdown_table(["trial", "search CV int8 macro-F1", "test int8 accuracy (3 seeds)", "test int8 macro-F1",
                        "worst subject", "flash", "TFLM arena", "seeds the conversion guard refused"],
                       _export_rows(results["exports"])), "",
        f"Post-training (PTQ) against quantization-aware int8 (`har convert --qat`, {results['qat_epochs']} epochs of "
        "fine-tuning on the training split), same trained run, test subjects; recall per class in percent:", "",
        markdown_table(["model", "int8", "float accuracy", "int8 accuracy", "int8 macro-F1", "flash", "recall per class"],
                       _qat_rows(results["qat"])), "",
    ])
