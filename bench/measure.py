"""`make bench` / `har bench`: measure the figures in BENCHMARKS.md on this machine, rerunnable by anyone.

Data: time to load and window all of HAPT. Models: the four families on HAPT with the UCI HAR split (the
default CNN over several seeds), evaluated on the test subjects, converted to int8 and validated on LiteRT
and TFLM. Runtime: the Pi classifier replaying a long real stream; invoke times per interpreter.
`har bench --main-job` times `make model.tflite` in a fresh clone.
Writes bench/results.json (for tools) and BENCHMARKS.md (for people).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

from bench.report import SECTIONS, markdown

RUNS_SECTIONS = ("recipe", "search", "learning-curve")  # sections measured on a folder of runs (--runs), not on --model
KEPT_SECTIONS = ("search", "learning-curve")  # hours of runs of their own: make bench keeps `har bench --only NAME`'s
from bench.runtime import bench_invoke, bench_runtime

REPO = Path(__file__).resolve().parent.parent
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
    from train.quiet import import_quietly

    tf = import_quietly("tensorflow")
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}"


def bench_data(repeats: int = 3) -> dict:
    """Load and window HAPT as the default recipe does (its split: every subject outside the test split trains)."""
    from train.data.dataset import prepare
    from train.data.posture import posture_angles

    data = bench_recipe("cnn", 0).data
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        prepared = prepare(data)
        seconds.append(time.perf_counter() - start)
    return {
        "load_and_window_seconds": statistics.median(seconds),
        "windows": {name: len(split) for name, split in prepared.splits.items()},
        "rows": prepared.summary["rows_read"],
        "posture": posture_angles(prepared),
    }


def bench_recipe(family: str, seed: int, quick: bool = False):
    """The RunConfig of the bench's `{family}-seed{seed}` run: configs/default.toml, another family with that
    family's defaults (train/models.py) and one model each, since the families compare architectures."""
    from train.config import load_config
    from train.run_config import RunConfig

    config = load_config(CONFIG)
    if family != config["model"].get("family"):
        config["model"] = {"family": family}
        config["train"]["distill"] = 0
    config["train"]["seed"] = seed
    if quick:
        config["train"]["epochs"] = 2
    return RunConfig.from_dict(config)


def bench_training(seeds: int, quick: bool, runs: Path) -> list[dict]:
    """Train, evaluate and convert (int8, validated on LiteRT and TFLM) every family; the CNN over seeds."""
    from convert.pipeline import convert_run
    from train.evaluate import evaluate_run
    from train.fit import train_run
    from train.models import keras
    from train.run import is_finished, same_recipe, training_summary

    plan = [("cnn", s) for s in range(seeds)] + [("mlp", 0), ("lstm", 0), ("convlstm", 0)]
    results = []
    for family, seed in plan:
        keras.backend.clear_session()
        name = f"{family}-seed{seed}"
        recipe = bench_recipe(family, seed, quick)
        if is_finished(runs / name) and same_recipe(runs / name, recipe):
            print(f"bench: {name} is a finished run of this recipe; reused", flush=True)
            run = runs / name
        else:
            print(f"bench: training {name}", flush=True)
            run = train_run(recipe, name, runs, overwrite=True)
        metrics = evaluate_run(run)
        row = {k: metrics[k] for k in ("run", "family", "accuracy", "macro_f1", "params", "macs", "fit_seconds", "best_epoch")}
        helpers = {kind: [training_summary(run / kind / f"seed{seed}")["fit_seconds"] for seed in seeds]
                   for kind, seeds in (("teachers", range(seed, seed + recipe.train.distill)),
                                       ("members", range(seed, seed + recipe.members) if recipe.members > 1 else ()))}
        row.update(fit_seconds=row["fit_seconds"] + sum(map(sum, helpers.values())),  # the teachers' or members' time
                   teachers=len(helpers["teachers"]), members=len(helpers["members"]) or 1)
        report = convert_run(run, runs / f"{name}.tflite", max_drop=100.0, max_class_drop=100.0)  # report the drop, never refuse here
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


def _shown(path: Path) -> str:
    """A path as a command to rerun gives it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def bench_main_job() -> dict:
    """`make model.tflite` in a fresh clone of this repository's HEAD: install, train, convert, timed."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="har-main-job-"))
    try:
        subprocess.run(["git", "clone", "-q", str(REPO), str(root / "main")], check=True)
        start = time.perf_counter()
        result = subprocess.run(["make", "model.tflite"], cwd=root / "main", capture_output=True, text=True)
        seconds = time.perf_counter() - start
        return {
            "command": "git clone <repo> && cd <clone> && make model.tflite",
            "seconds": seconds,
            "returncode": result.returncode,
            "summary": [line for line in result.stdout.splitlines() if line.startswith(("model.tflite:", "runs/default"))],
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d"),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure_section(name: str, model: Path, runs: Path) -> int:
    """Measure one section (on `model`, or for the recipe study in `runs`), merge it into bench/results.json
    and rewrite BENCHMARKS.md."""
    import importlib

    if name in ("mcu", "light"):
        from device_runtime.contract import load_contract

        load_contract(model)  # a missing or foreign file is refused before anything is measured or written
    results_path = REPO / "bench" / "results.json"
    results = json.loads(results_path.read_text())
    module = importlib.import_module(SECTIONS[name])
    section = module.measure(runs, results.get("recipe")) if name == "recipe" else \
        module.measure(runs if name in RUNS_SECTIONS else model)
    where = {**{folder_section: f" --runs {_shown(runs)}" for folder_section in RUNS_SECTIONS},
             "search-scaling": ""}.get(name, f" --model {_shown(model)}")
    section.update(command=f"har bench --only {name}{where}", machine=machine(),
                   date=time.strftime("%Y-%m-%d"))
    if name == "recipe" and results.get("recipe", {}).get("chosen") == section.get("chosen"):
        section["measured_after_training"] = results["recipe"].get("measured_after_training")  # same default: as fresh
    results[name] = section
    results_path.write_text(json.dumps(results, indent=2))
    (REPO / "BENCHMARKS.md").write_text(markdown(results))
    print(importlib.import_module(SECTIONS[name]).markdown(section))
    return 0


def main(args: argparse.Namespace | None = None) -> int:
    if getattr(args, "only", None):
        return measure_section(args.only, Path(args.model).resolve(), Path(args.runs).resolve())
    if getattr(args, "main_job", False):
        result = bench_main_job()
        (REPO / "bench").mkdir(exist_ok=True)
        (REPO / "bench" / "main_job.json").write_text(json.dumps(result, indent=2))
        (REPO / "BENCHMARKS.md").write_text(markdown(json.loads((REPO / "bench" / "results.json").read_text())))
        print(json.dumps(result, indent=2))
        return result["returncode"]
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
    default_model = runs / "cnn-seed0.tflite"
    results["runtime"] = bench_runtime(default_model, runs)
    results["invoke_us"] = bench_invoke(default_model)
    previous_path = REPO / "bench" / "results.json"
    previous = json.loads(previous_path.read_text()) if previous_path.is_file() else {}
    for name, module in SECTIONS.items():
        if name in KEPT_SECTIONS:
            results[name] = previous.get(name)
            continue
        measure = __import__(module, fromlist=["measure"]).measure
        results[name] = measure(runs, previous.get("recipe")) if name == "recipe" else \
            measure(runs if name in RUNS_SECTIONS else default_model)
    results["recipe"]["measured_after_training"] = False  # one run: every section measures the current recipe
    from train.data.dataset import DataConfig
    from train.evaluate_tflite import evaluate_stream

    stream = evaluate_stream(default_model, DataConfig(), runs / "stream")
    results["stream"] = {"default": stream["default"], "sweep": stream["sweep"], "recordings": stream["recordings"]}
    out = runs if quick else REPO / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (runs / "BENCHMARKS.md" if quick else REPO / "BENCHMARKS.md").write_text(text)
    print(text)
    return 0

