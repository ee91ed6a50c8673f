"""`har evaluate-stream MODEL.tflite`: whole test recordings through the device runtime's own windowing and
smoothing, scored as a user would feel them, with a timeline plot and a sweep of the smoothing settings.

Each test-subject recording is fed sample by sample to device_runtime's WindowStream with the .tflite (the
exact code that runs on the Pi). The true activity of a prediction is the one at its last sample, the
moment it is printed; moments outside the model's classes (unlabelled, transitions) are not scored.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from device_runtime.interpreter import Classifier
from device_runtime.contract import load_contract
from device_runtime import smoothing
from device_runtime.smoothing import DEFAULT_VOTES
from device_runtime.stream import WindowStream
from train.data.dataset import DataConfig, load_recordings
from train.data.split import class_mapping, split_subjects
from train.data.recording import UNLABELLED
from train.stream_metrics import OTHER, stream_report

SWEEP = [("vote", k) for k in (1, 3, 5, 7, 9)] + [("ema", (a, h)) for a in (0.3, 0.5) for h in (0.0, 0.1, 0.2)]


def make_smoother(kind: str, setting):
    options = {"votes": setting} if kind == "vote" else {"alpha": setting[0], "hysteresis": setting[1]}
    return smoothing.make_smoother(kind, **options)


def describe(kind: str, setting) -> str:
    return f"vote {setting}" if kind == "vote" else f"EMA alpha {setting[0]:g}, hysteresis {setting[1]:g}"


def window_probabilities(model_path: Path, contract: dict, recordings, mapping: dict, class_names: list[str]):
    """Per recording: (times of the predictions in ms, true class at each, probabilities of each window)."""
    classifier = Classifier(str(model_path), contract)
    streams = []
    for recording in recordings:
        stream = WindowStream(classifier, contract, smoothing.make_smoother("none"))
        to_class = np.array([class_names.index(mapping[n]) if n in mapping else OTHER for n in recording.label_names] + [OTHER])
        truth_of_sample = to_class[np.where(recording.labels == UNLABELLED, len(recording.label_names), recording.labels)]
        times, truth, probabilities = [], [], []
        for i, sample in enumerate(recording.samples):
            if stream.push(i * stream.period_ms, sample) is not None:
                times.append(i * stream.period_ms)
                truth.append(truth_of_sample[i])
                probabilities.append(stream.last_probabilities)
        streams.append((recording.subject, np.array(times), np.array(truth), np.array(probabilities)))
    return streams


def smooth(streams, kind: str, setting) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for _, times, truth, probabilities in streams:
        smoother = make_smoother(kind, setting)
        out.append((times, truth, np.array([smoother.update(p) for p in probabilities])))
    return out


def plot_timeline(streams, class_names: list[str], path: Path, title: str, limit: int = 4) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = streams[:limit]
    fig, axes = plt.subplots(len(shown), 1, figsize=(12, 1.9 * len(shown)), squeeze=False)
    for ax, (subject, times, truth, predicted) in zip(axes[:, 0], shown):
        minutes = times / 60000.0
        shown_truth = np.where(truth == OTHER, np.nan, truth)  # breaks the line where no class is true
        ax.step(minutes, shown_truth, where="post", color="black", lw=2.5, alpha=0.35, label="true")
        ax.step(minutes, predicted, where="post", color="tab:red", lw=1, label="predicted")
        ax.set_yticks(range(len(class_names)), [n[:14] for n in class_names], fontsize=7)
        ax.set_ylim(-0.5, len(class_names) - 0.5)
        ax.set_ylabel(f"subject {subject}", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_sweep(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        marker = "o" if row["smoothing"].startswith("vote") else "s"
        ax.scatter(row["delay_ms_median"] / 1000, row["flips_per_minute"], marker=marker)
        ax.annotate(row["smoothing"], (row["delay_ms_median"] / 1000, row["flips_per_minute"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.axhline(rows[0]["true_changes_per_minute"], color="gray", ls="--", lw=1, label="true changes per minute")
    ax.set_xlabel("median delay after an activity change (s)")
    ax.set_ylabel("label flips per minute")
    ax.set_title("smoothing: steadier labels cost delay")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def evaluate_stream(model_path: str | Path, data: DataConfig, out_dir: str | Path) -> dict:
    model_path, out_dir = Path(model_path), Path(out_dir)
    contract = load_contract(model_path)
    recordings, _ = load_recordings(data)
    test_subjects = split_subjects([r.subject for r in recordings], data)["test"]
    recordings = [r for r in recordings if r.subject in test_subjects]
    mapping, class_names = class_mapping(data, recordings)
    if class_names != contract.class_names:
        raise ValueError(f"the data's classes {class_names} are not the model's {contract.class_names}")
    streams = window_probabilities(model_path, contract, recordings, mapping, class_names)

    rows = []
    for kind, setting in SWEEP:
        row = stream_report(smooth(streams, kind, setting), class_names)
        row["smoothing"] = describe(kind, setting)
        rows.append(row)
    default = next(r for r in rows if r["smoothing"] == describe("vote", DEFAULT_VOTES))
    out_dir.mkdir(parents=True, exist_ok=True)
    timeline = [(s, t, y, p) for (s, t, y, _), (_, _, p) in zip(streams, smooth(streams, "vote", DEFAULT_VOTES))]
    plot_timeline(timeline, class_names, out_dir / "timeline.png", f"{model_path.name}: vote {DEFAULT_VOTES}, test subjects")
    plot_sweep(rows, out_dir / "smoothing_sweep.png")
    report = {"model": str(model_path), "test_subjects": test_subjects, "recordings": len(recordings),
              "default": default, "sweep": rows}
    (out_dir / "stream_report.json").write_text(json.dumps(report, indent=2))
    (out_dir / "stream_report.md").write_text(markdown(report, class_names))
    return report


def markdown(report: dict, class_names: list[str]) -> str:
    d = report["default"]
    lines = [
        f"# Streaming evaluation of {Path(report['model']).name}",
        "",
        f"{report['recordings']} whole recordings of the test subjects {' '.join(report['test_subjects'])} "
        f"({d['minutes']:.0f} min), replayed through the device runtime's windowing; default smoothing "
        f"({d['smoothing']}).",
        "",
        f"- accuracy over time: {100 * d['accuracy']:.2f}% of {d['predictions']:,} predictions",
        f"- label flips: {d['flips_per_minute']:.2f} per minute (the truth changes {d['true_changes_per_minute']:.2f} per minute)",
        f"- delay from an activity change to the new label: median {d['delay_ms_median'] / 1000:.2f} s, "
        f"mean {d['delay_ms_mean'] / 1000:.2f} s; {d['changes_missed']} of {d['changes_detected'] + d['changes_missed']} changes never shown",
        f"- event-level macro-F1: {d['event_macro_f1']:.3f}",
        "",
        "| class | event precision | event recall | event F1 | true events |",
        "|---|---|---|---|---|",
    ]
    for name, e in d["event_f1"].items():
        lines.append(f"| {name} | {e['precision']:.3f} | {e['recall']:.3f} | {e['f1']:.3f} | {e['true_events']} |")
    lines += ["", "Timeline: timeline.png. Smoothing sweep (smoothing_sweep.png):", "",
              "| smoothing | accuracy | flips/min | median delay | event macro-F1 |", "|---|---|---|---|---|"]
    for r in report["sweep"]:
        lines.append(f"| {r['smoothing']} | {100 * r['accuracy']:.2f}% | {r['flips_per_minute']:.2f} | "
                     f"{r['delay_ms_median'] / 1000:.2f} s | {r['event_macro_f1']:.3f} |")
    return "\n".join(lines) + "\n"
