"""`make bench` / `har bench`: measure the figures in BENCHMARKS.md on this machine, rerunnable by anyone.

Data: time to load and window all of HAPT. Training: the four families on HAPT with the UCI HAR split
(the default CNN over several seeds), each evaluated on the test subjects.
Writes bench/results.json (for tools) and BENCHMARKS.md (for people).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent
CONFIG = REPO / "configs" / "default.toml"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}"


def bench_data(repeats: int = 3) -> dict:
    from train.dataset import DataConfig, prepare

    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        prepared = prepare(DataConfig())
        seconds.append(time.perf_counter() - start)
    return {
        "load_and_window_seconds": statistics.median(seconds),
        "windows": {name: len(split) for name, split in prepared.splits.items()},
        "rows": prepared.summary["rows_read"],
    }


def bench_training(seeds: int, quick: bool, runs: Path) -> list[dict]:
    """Train, evaluate and convert (int8, validated on LiteRT and TFLM) every family; the CNN over seeds."""
    from convert.pipeline import convert_run
    from train.config import load_config
    from train.evaluate import evaluate_run
    from train.fit import RunConfig, train_run
    from train.models import keras

    plan = [("cnn", s) for s in range(seeds)] + [("mlp", 0), ("lstm", 0), ("convlstm", 0)]
    results = []
    for family, seed in plan:
        config = load_config(CONFIG)
        config["model"]["family"] = family
        config["train"]["seed"] = seed
        if quick:
            config["train"]["epochs"] = 2
        keras.backend.clear_session()
        name = f"{family}-seed{seed}"
        print(f"bench: training {name}", flush=True)
        run = train_run(RunConfig.from_dict(config), name, runs, overwrite=True)
        metrics = evaluate_run(run)
        row = {k: metrics[k] for k in ("run", "family", "accuracy", "macro_f1", "params", "macs", "fit_seconds", "best_epoch")}
        report = convert_run(run, runs / f"{name}.tflite", max_drop=100.0)  # report the drop, never refuse here
        row.update(
            seed=seed,
            int8_accuracy=report["int8"]["accuracy"],
            int8_macro_f1=report["int8"]["macro_f1"],
            tflm_accuracy=report.get("tflm", {}).get("accuracy"),
            size_bytes=report["size_bytes"],
            float32_size_bytes=report["float32_size_bytes"],
            size_ratio=report["size_ratio"],
            arena_bytes=report.get("arena_bytes"),
            litert_vs_tflm_argmax=report["agreement"].get("litert_vs_tflm_argmax"),
            max_output_difference_lsb=report["agreement"].get("max_output_difference_lsb"),
            ops=report["ops"],
        )
        results.append(row)
    return results


def markdown(results: dict) -> str:
    data, training = results["data"], results["training"]
    cnn = [r for r in training if r["family"] == "cnn"]
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Date: {results['date']}",
        "",
        "Everything below is measured by that command; rerun it to check. Protocol: the embedded UCI HAPT",
        "recordings, six daily activities, 128-sample windows (2.56 s at 50 Hz), stride 64, windows wholly",
        "inside one labelled segment; UCI HAR's test users 2 4 9 10 12 13 18 20 24, validation users 5 15 25,",
        "training on the other 18; normalisation fitted on the training windows. Best epoch chosen by validation",
        "macro-F1; test subjects are scored once, at the end.",
        "",
        "## Data",
        "",
        f"Load and window all of HAPT ({data['rows']:,} rows per sensor, from the compressed archive): "
        f"**{data['load_and_window_seconds']:.1f} s** (median of 3). Windows: "
        + ", ".join(f"{k} {v:,}" for k, v in data["windows"].items())
        + ".",
        "",
        "## Models (test subjects; float = Keras, int8 = LiteRT reference kernels, TFLM = host build)",
        "",
        "| model | seed | float acc | float macro-F1 | int8 acc | int8 macro-F1 | TFLM acc | params | MACs "
        "| int8 size | float32/int8 | TFLM arena | LiteRT=TFLM argmax | fit time | best epoch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in training:
        tflm = f"{100 * r['tflm_accuracy']:.2f}%" if r["tflm_accuracy"] is not None else "n/a"
        agreement = f"{100 * r['litert_vs_tflm_argmax']:.2f}%" if r["litert_vs_tflm_argmax"] is not None else "n/a"
        lines.append(
            f"| {r['family']} | {r['seed']} | {100 * r['accuracy']:.2f}% | {r['macro_f1']:.4f} | "
            f"{100 * r['int8_accuracy']:.2f}% | {r['int8_macro_f1']:.4f} | {tflm} | {r['params']:,} | {r['macs']:,} | "
            f"{r['size_bytes']:,} B | {r['size_ratio']:.2f} | {r['arena_bytes'] or 0:,} B | {agreement} | "
            f"{r['fit_seconds']:.0f} s | {r['best_epoch']} |"
        )
    if len(cnn) > 1:
        lines.append("")
        for label, key, scale, unit in (
            ("float accuracy", "accuracy", 100, "%"), ("float macro-F1", "macro_f1", 1, ""),
            ("int8 accuracy", "int8_accuracy", 100, "%"), ("int8 macro-F1", "int8_macro_f1", 1, ""),
        ):
            values = [scale * r[key] for r in cnn]
            lines.append(
                f"Default CNN over {len(cnn)} seeds, {label}: mean {statistics.mean(values):.4g}{unit}, "
                f"min {min(values):.4g}{unit}, max {max(values):.4g}{unit}.  "
            )
        lines.append(f"Ops of the default CNN: {', '.join(cnn[0]['ops'])}.")
    return "\n".join(lines) + "\n"


def main(args: argparse.Namespace | None = None) -> int:
    seeds = getattr(args, "seeds", 3)
    quick = getattr(args, "quick", False)
    runs = REPO / "runs" / ("bench-quick" if quick else "bench")
    results = {
        "command": "make bench" if not quick else "har bench --quick",
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "data": bench_data(),
        "training": bench_training(seeds if not quick else 1, quick, runs),
    }
    out = runs if quick else REPO / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (runs / "BENCHMARKS.md" if quick else REPO / "BENCHMARKS.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(argparse.Namespace(seeds=int(sys.argv[1]) if len(sys.argv) > 1 else 3, quick=False)))
