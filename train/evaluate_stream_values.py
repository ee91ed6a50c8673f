"""`har evaluate-stream` of a regression model: whole test recordings through device_runtime's WindowStream.

Each recording is fed sample by sample to the WindowStream the Pi runs (no smoothing, so each window's own
value is kept), and the runtime's value smoothers (train/evaluate_tflite.py replays the classifier's the
same way) are applied afterwards, starting over with each recording as the runtime does on start. The truth
of a prediction is its window's mean target, exactly as training windows get theirs (train/data/windows.py);
windows with a sample without a target (for cadence: outside walking) are shown but not scored. The
baseline is the mean predictor: a derived target's contract offset is its training windows' mean.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from device_runtime.contract import Contract
from device_runtime.files import pinned_folder
from device_runtime.interpreter import Classifier
from device_runtime.smoothing import DEFAULT_VOTES, VALUE_KINDS, make_value_smoother
from device_runtime.stream import WindowStream
from train.data.targets import TARGETS
from train.evaluate import reports_folder
from train.evaluate_plots import plot_value_timeline
from train.metrics import regression_report, subject_order
from train.report_table import markdown_table

DEFAULT_SMOOTHING = "mean"  # the runtime's default for a regression model (python -m device_runtime)


def window_means(targets: np.ndarray | None, window: int) -> np.ndarray:
    """Sample i -> the mean target of the window ending at i (NaN before a full window, or where a sample of
    the window has no target)."""
    if targets is None:
        raise ValueError("the recordings have no regression target: give the model's data (--data, and the "
                         "target or target column it was trained on)")
    t = np.asarray(targets, np.float64)
    total = np.r_[0.0, np.cumsum(np.where(np.isnan(t), 0.0, t))]
    missing = np.r_[0, np.cumsum(np.isnan(t))]
    out = np.full(len(t), np.nan)
    end = np.arange(window, len(t) + 1)
    out[end - 1] = np.where(missing[end] == missing[end - window], (total[end] - total[end - window]) / window, np.nan)
    return out


def window_values(classifier, contract: Contract, recordings) -> list[tuple]:
    """Per recording: (subject, times of the predictions in ms, true value of each (NaN: none), its value)."""
    streams = []
    for recording in recordings:
        stream = WindowStream(classifier, contract, make_value_smoother("none"))
        truth_at = window_means(recording.targets, contract.window)
        times, truth, values = [], [], []
        for i, sample in enumerate(recording.samples):
            if stream.push(i * stream.period_ms, sample) is not None:
                times.append(i * stream.period_ms)
                truth.append(truth_at[i])
                values.append(stream.last_value)
        streams.append((recording.subject, np.array(times), np.array(truth), np.array(values, np.float64)))
    return streams


def smooth_values(streams, kind: str, votes: int = DEFAULT_VOTES) -> list[np.ndarray]:
    """Each recording's values as the runtime reports them with `--smoothing kind --votes votes`."""
    out = []
    for *_, values in streams:
        smoother = make_value_smoother(kind, votes)
        out.append(np.array([smoother.update(v) for v in values], np.float64))
    return out


def value_scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """MAE, RMSE and R^2 over the predictions that have a true value; None where none has."""
    truth, predicted = np.asarray(truth, np.float64), np.asarray(predicted, np.float64)
    scored = ~np.isnan(truth)
    if not scored.any():
        return {"mae": None, "rmse": None, "r2": None, "windows": 0}
    return regression_report(truth[scored], predicted[scored])


def describe(kind: str, votes: int = DEFAULT_VOTES) -> str:
    return "none" if kind == "none" else f"{kind} {votes}"


def value_stream_report(streams, unit: str, baseline: float | None) -> tuple[dict, list[np.ndarray]]:
    """Overall and per-recording MAE over time for every value smoothing, the default (mean) first; and
    each recording's values with the default smoothing."""
    kinds = [DEFAULT_SMOOTHING] + [k for k in VALUE_KINDS if k != DEFAULT_SMOOTHING]
    smoothed = {kind: smooth_values(streams, kind) for kind in kinds}
    truth = np.concatenate([s[2] for s in streams]) if streams else np.zeros(0)
    rows = [{"smoothing": describe(k), **value_scores(truth, np.concatenate(smoothed[k]) if streams else truth)}
            for k in kinds]
    per_recording = [{"subject": s[0], "predictions": len(s[1]), "scored": int((~np.isnan(s[2])).sum()),
                      **{f"mae_{k}": value_scores(s[2], smoothed[k][i])["mae"] for k in kinds}}
                     for i, s in enumerate(streams)]
    report = {"unit": unit, "predictions": int(truth.size), "default": rows[0], "smoothing": rows,
              "per_recording": per_recording}
    if baseline is not None:
        report["baseline_mean_predictor"] = {"value": baseline, **value_scores(truth, np.full(truth.size, baseline))}
    return report, smoothed[DEFAULT_SMOOTHING]


def evaluate_value_stream(model_path: Path, contract: Contract, recordings, test_subjects, out_dir: Path) -> dict:
    """The regression stream evaluation: stream_report.json/.md and timeline.png in `out_dir`."""
    streams = window_values(Classifier(model_path, contract), contract, recordings)
    derived = contract.class_names[0] in TARGETS and contract.target is not None
    report, shown = value_stream_report(streams, contract.target_unit, contract.target["offset"] if derived else None)
    report = {"model": str(model_path), "test_subjects": subject_order(test_subjects), "recordings": len(recordings),
              "target": contract.class_names[0], **report}
    timeline = [(*s[:3], s[3], v) for s, v in zip(streams, shown)]
    title = f"{model_path.name}: {report['default']['smoothing']} windows, test subjects"
    reports_folder(out_dir, "`har evaluate-stream`")  # again: it may have changed while the stream ran
    with pinned_folder(out_dir) as write:
        write("timeline.png", plot_value_timeline(timeline, contract.target_unit, title))
        write("stream_report.json", json.dumps(report, indent=2))
        write("stream_report.md", value_stream_markdown(report))
    return report


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def value_stream_markdown(report: dict) -> str:
    unit, d = report["unit"] or "target units", report["default"]
    rows = [(r["smoothing"], _number(r["mae"]), _number(r["rmse"]), _number(r["r2"])) for r in report["smoothing"]]
    if "baseline_mean_predictor" in report:
        b = report["baseline_mean_predictor"]
        rows.append((f"mean predictor ({b['value']:.2f}, baseline)", _number(b["mae"]), _number(b["rmse"]), _number(b["r2"])))
    kinds = [r["smoothing"].split()[0] for r in report["smoothing"]]
    recordings = [(r["subject"], r["predictions"], r["scored"], *[_number(r[f"mae_{k}"]) for k in kinds])
                  for r in report["per_recording"]]
    lines = [
        f"# Streaming evaluation of {Path(report['model']).name} ({report['target']}, {unit})", "",
        f"{report['recordings']} whole recordings of the test subjects {' '.join(report['test_subjects'])}, replayed "
        f"through the device runtime's windowing: {report['predictions']:,} predictions, {d['windows']:,} of them "
        "with a true value (the window's mean target) and scored.", "",
        f"**MAE over time {_number(d['mae'])} {unit} with the runtime's default smoothing ({d['smoothing']}); "
        f"{_number(report['smoothing'][-1]['mae'])} without.**", "",
        markdown_table(["smoothing", f"MAE ({unit})", f"RMSE ({unit})", "R^2"], rows), "",
        "Per recording (MAE of the scored predictions):", "",
        markdown_table(["subject", "predictions", "scored", *[f"MAE, {k}" for k in kinds]], recordings), "",
        "Timeline of the first recordings (true, each window's value, the reported value): timeline.png.",
    ]
    return "\n".join(lines) + "\n"
