"""BENCHMARKS.md from bench/results.json: what `make bench` measured, for people."""
from __future__ import annotations

import json
import statistics
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def markdown(results: dict) -> str:
    lines = _header(results) + _stale(results) + _models(results["training"]) + _runtime(results) + _stream(results["stream"])
    return "\n".join(lines + _main_job() + _sections(results)) + "\n"


def _stale(results: dict) -> list[str]:
    """Say so when the full run predates the recipe now in configs/default.toml (a section rerun since)."""
    recipe = results.get("recipe")
    if not recipe or recipe.get("measured_after_training") is False:
        return []
    return ["**Note.** The sections from \"Models\" to \"Streaming\" were measured by `make bench` with an "
            f"earlier default recipe, before the cross-validated recipe choice ({recipe['date']}, \"Recipe choice\" "
            "below) changed configs/default.toml; \"The main job\" and the sections after it measure the current "
            "default, except where they name another model. `make bench` remeasures everything with the current one.", ""]


def _header(results: dict) -> list[str]:
    data = results["data"]
    return [
        "# Benchmarks",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Date: {results['date']}",
        "",
        "Everything below is measured by that command (a section measured since by `har bench --only` says so); "
        "rerun it to check. Protocol: the embedded UCI HAPT",
        "recordings, six daily activities, 128-sample windows (2.56 s at 50 Hz), stride 64, windows wholly",
        "inside one labelled segment; UCI HAR's test users 2 4 9 10 12 13 18 20 24, training on the other 21",
        "(`validation_subjects = []`, \"Training subjects\" below: no validation split, so \"best epoch\" is 0);",
        "normalisation fitted on the training windows. Each model is the one at the end of its training; test subjects are",
        "scored once, at the end.",
        "",
        "## Data",
        "",
        f"Load and window all of HAPT ({data['rows']:,} rows per sensor, from the compressed archive): "
        f"**{data['load_and_window_seconds']:.1f} s** (median of 3). Windows: "
        + ", ".join(f"{k} {v:,}" for k, v in data["windows"].items())
        + ".",
        "",
        *_posture(data.get("posture")),
    ]


def _models(training: list[dict]) -> list[str]:
    cnn = [r for r in training if r["family"] == "cnn"]
    lines = [
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
    distilled = [r for r in training if r.get("teachers")]
    if distilled:
        lines += ["", f"Each default CNN is distilled from {distilled[0]['teachers']} teachers of its recipe "
                  "(`train.distill`; seeds seed .. seed+2): its fit time includes theirs. The other families are "
                  "single models."]
    joined = [r for r in training if r.get("members", 1) > 1]
    if joined:
        count = joined[0]["members"]
        lines += ["", f"Each default CNN averages {count} networks of its recipe (`model.members`; seeds seed .. "
                  f"seed+{count - 1}), each trained as a run of its own: its fit time is theirs together, its "
                  "parameters, MACs and size are all of theirs, and its TFLM arena is the whole model's in one "
                  "interpreter; the generated firmware runs the networks one at a time in one network's arena "
                  "(\"Microcontroller\" below). The other families are single networks."]
    return lines


def _runtime(results: dict) -> list[str]:
    rt, invoke = results["runtime"], results["invoke_us"]
    return [
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
        + ". tflite-runtime 2.14 is not measured: it needs numpy<2 and cannot share this environment.",
    ]


def _stream(stream: dict) -> list[str]:
    d = stream["default"]
    lines = [
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
    return lines


def _main_job() -> list[str]:
    main_job = REPO / "bench" / "main_job.json"
    if not main_job.exists():
        return []
    job = json.loads(main_job.read_text())
    return [
        "",
        "## The main job on a fresh clone",
        "",
        f"`{job['command']}` (measured by `har bench --main-job`, {job['date']}, {job['machine']}): "
        f"**{job['seconds'] / 60:.1f} min** including the virtual environment's install, exit status "
        f"{job['returncode']}. " + " ".join(f"`{line}`" for line in job["summary"]),
    ]


# Sections measured by other modules of bench/ (each also alone, by `har bench --only NAME`), in report order.
def _posture(posture: dict | None) -> list[str]:
    """How far sitting and standing are apart in tilt, per split: the limit any model meets on HAPT."""
    if not posture:
        return []
    rows = [f"| {name} | {split['median']:g}° | {split['min']:g}° (subject {min(split['degrees'], key=split['degrees'].get)}) | "
            + ", ".join(f"{s}: {d:g}" for s, d in split["degrees"].items()) + " |"
            for name, split in posture["splits"].items() if split["degrees"]]
    return ["Sitting and standing are told apart by the tilt of the sensor and by how much the wearer sways (the fine-"
            "motion inputs). Angle between each subject's mean gravity direction while sitting and while standing "
            "(`har data posture`):", "",
            "| split | median | least | per subject (degrees) |", "|---|---|---|---|", *rows, ""]


SECTIONS = {"recipe": "bench.recipe", "learning-curve": "bench.learning_curve", "mcu": "bench.mcu", "light": "bench.light",
            "regression": "bench.regression", "search": "bench.search", "search-scaling": "bench.search_scaling"}


def _sections(results: dict) -> list[str]:
    """Sections measured by other modules of bench/, each as its own Markdown."""
    out = []
    for name, module in SECTIONS.items():
        if results.get(name):
            section = __import__(module, fromlist=["markdown"]).markdown(results[name]).strip()
            when = results[name].get("command")
            out += ["", section] + (["", f"Measured by `{when}` on {results[name]['date']}, {results[name]['machine']}."]
                                     if when else [])
    return out
