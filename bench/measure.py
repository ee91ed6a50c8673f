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
import sys
import time
from pathlib import Path

import numpy as np

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
    import tensorflow as tf

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, TensorFlow {tf.__version__}"


def bench_data(repeats: int = 3) -> dict:
    from train.data.dataset import DataConfig, prepare

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
        if family != config["model"].get("family"):
            config["model"] = {"family": family}  # that family's defaults (train/models.py)
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


def write_replay_csv(path: Path, minutes: float = 10.0) -> int:
    """The HAPT test subjects' recordings, concatenated with continuous 50 Hz timestamps, as the sensor
    streamer's CSV: a long real stream for the replay benchmark."""
    from train.data.hapt import EMBEDDED_HAPT
    from train.data.hapt import UCI_HAR_TEST_SUBJECTS, load_hapt

    recordings = [r for r in load_hapt(EMBEDDED_HAPT)[0] if r.subject in UCI_HAR_TEST_SUBJECTS]
    samples = np.concatenate([r.samples for r in recordings])[: int(minutes * 60 * 50)]
    with open(path, "w") as out:
        out.write("timestamp_ms," + ",".join(recordings[0].channels) + "\n")
        for i, row in enumerate(samples):
            out.write(f"{i * 20}," + ",".join(f"{v:.6g}" for v in row) + "\n")
    return len(samples)


def bench_runtime(model: Path, work: Path) -> dict:
    """The Pi runtime replaying a long real stream as fast as it can, pinned to one core."""
    csv = work / "replay.csv"
    samples = write_replay_csv(csv)
    command = ["taskset", "-c", "0", sys.executable, "-m", "device_runtime", "--model", str(model), "--replay", str(csv)]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True)
    wall = time.perf_counter() - start
    summary = json.loads(result.stderr.strip().splitlines()[-1])["summary"]
    latencies = np.array([json.loads(line)["latency_ms"] for line in result.stdout.splitlines()])
    return {
        "samples": samples,
        "predictions": summary["predictions"],
        "loop_seconds": summary["seconds"],
        "samples_per_second": samples / summary["seconds"],
        "samples_per_second_with_startup": samples / wall,
        "latency_ms_p50": float(np.percentile(latencies, 50)),
        "latency_ms_p99": float(np.percentile(latencies, 99)),
        "latency_ms_max": float(latencies.max()),
        "max_rss_mb": summary["max_rss_mb"],
        "interpreter": summary["interpreter"],
    }


INVOKE_TIMER = """
import json, sys, time, numpy as np
kind, path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "tflm":
    from tflite_micro.python.tflite_micro import runtime
    it = runtime.Interpreter.from_file(path, arena_size=1 << 20)
    shape, dtype = it.get_input_details(0)["shape"], it.get_input_details(0)["dtype"]
    x = np.zeros(shape, dtype)
    def call():
        it.set_input(x, 0); it.invoke()
else:
    if kind.startswith("litert"):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    else:
        import tensorflow as tf
        Interpreter, OpResolverType = tf.lite.Interpreter, tf.lite.experimental.OpResolverType
    options = {} if kind.endswith("xnnpack") else {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}
    it = Interpreter(model_path=path, num_threads=1, **options)
    it.allocate_tensors()
    d = it.get_input_details()[0]
    x = np.zeros(d["shape"], d["dtype"])
    def call():
        it.set_tensor(d["index"], x); it.invoke()
for _ in range(50):
    call()
times = []
for _ in range(n):
    t = time.perf_counter(); call(); times.append(time.perf_counter() - t)
print(json.dumps(float(np.median(times) * 1e6)))
"""


def bench_invoke(model: Path) -> dict:
    """Median microseconds of one invoke (set input + invoke), one thread, each interpreter in its own process."""
    medians = {}
    for kind in ("litert", "litert+xnnpack", "tf.lite", "tflm"):
        result = subprocess.run(
            ["taskset", "-c", "0", sys.executable, "-c", INVOKE_TIMER, kind, str(model), "2000"],
            capture_output=True, text=True, cwd=REPO,
        )
        medians[kind] = float(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else None
    return medians


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
        "training on the other 18; normalisation fitted on the training windows. Each model is the one at the",
        "end of its training (\"best epoch\" is the best validation epoch, for information); test subjects are",
        "scored once, at the end. For comparison, shared/STACK.md's baselines on the same split: the user's",
        "MLP/CNN/LSTM/ConvLSTM 85.8-90.4%, a quick compact CNN 92.1-93.3% (best of 3 seeds).",
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
    rt, invoke = results["runtime"], results["invoke_us"]
    lines += [
        "",
        "## Raspberry Pi runtime, measured on this host (default CNN seed 0, int8, one core)",
        "",
        f"Replay of {rt['samples']:,} real samples (the HAPT test subjects, {rt['samples'] / 50 / 60:.0f} min at 50 Hz) "
        f"through `python -m device_runtime --replay`, pinned with `taskset -c 0`, interpreter {rt['interpreter']} "
        "(reference kernels):",
        "",
        "| measure | value |",
        "|---|---|",
        f"| throughput, parsing included | {rt['samples_per_second']:,.0f} samples/s ({rt['samples_per_second_with_startup']:,.0f} with process start-up) |",
        f"| latency, completing line to printed prediction | p50 {rt['latency_ms_p50']:.3f} ms, p99 {rt['latency_ms_p99']:.3f} ms, max {rt['latency_ms_max']:.3f} ms |",
        f"| resident memory (max RSS) | {rt['max_rss_mb']:.0f} MB |",
        f"| predictions | {rt['predictions']:,} |",
        "",
        "Median invoke (set input + invoke, one thread, 2,000 calls after 50 warm-ups): "
        + ", ".join(f"{k} {v:.1f} us" if v is not None else f"{k} failed" for k, v in invoke.items())
        + ". tflite-runtime 2.14 is not measured: it needs numpy<2 and cannot share this environment (STACK.md).",
    ]
    stream = results["stream"]
    d = stream["default"]
    lines += [
        "",
        "## Streaming (what a user feels): default CNN seed 0 on whole test recordings",
        "",
        f"`har evaluate-stream` replays the {stream['recordings']} whole recordings of the test subjects "
        f"({d['minutes']:.0f} min) through the device runtime's windowing (a prediction every 1.28 s); the "
        "truth is the activity at a prediction's last sample, transitions and unlabelled stretches not scored. "
        f"Default smoothing ({d['smoothing']}): accuracy over time {100 * d['accuracy']:.2f}%, "
        f"{d['flips_per_minute']:.2f} label flips per minute (the truth changes {d['true_changes_per_minute']:.2f} "
        f"per minute), median delay after an activity change {d['delay_ms_median'] / 1000:.2f} s "
        f"(in steps of the 1.28 s stride), event-level macro-F1 {d['event_macro_f1']:.3f}.",
        "",
        "| smoothing | accuracy | flips/min | median delay | event macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for r in stream["sweep"]:
        lines.append(f"| {r['smoothing']} | {100 * r['accuracy']:.2f}% | {r['flips_per_minute']:.2f} | "
                     f"{r['delay_ms_median'] / 1000:.2f} s | {r['event_macro_f1']:.3f} |")
    main_job = REPO / "bench" / "main_job.json"
    if main_job.exists():
        job = json.loads(main_job.read_text())
        lines += [
            "",
            "## The main job on a fresh clone",
            "",
            f"`{job['command']}` (measured by `har bench --main-job`, {job['date']}, {job['machine']}): "
            f"**{job['seconds'] / 60:.1f} min** including the virtual environment's install, exit status "
            f"{job['returncode']}. " + " ".join(f"`{line}`" for line in job["summary"]),
        ]
    sweep = REPO / "bench" / "design_sweep.md"
    if sweep.exists():
        lines += ["", sweep.read_text().strip()]
    return "\n".join(lines) + "\n"


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


def main(args: argparse.Namespace | None = None) -> int:
    if getattr(args, "main_job", False):
        result = bench_main_job()
        (REPO / "bench").mkdir(exist_ok=True)
        (REPO / "bench" / "main_job.json").write_text(json.dumps(result, indent=2))
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
    from train.data.dataset import DataConfig
    from train.evaluate_stream import evaluate_stream

    stream = evaluate_stream(default_model, DataConfig(), runs / "stream")
    results["stream"] = {"default": stream["default"], "sweep": stream["sweep"], "recordings": stream["recordings"]}
    out = runs if quick else REPO / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    text = markdown(results)
    (runs / "BENCHMARKS.md" if quick else REPO / "BENCHMARKS.md").write_text(text)
    print(text)
    return 0

