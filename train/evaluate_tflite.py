"""`har evaluate MODEL.tflite` and `har evaluate-stream MODEL.tflite`: a converted model scored the way the
device runs it, on test windows or on whole test recordings, with device_runtime's Classifier.

The data defaults to what the model was tested on at conversion (its contract's extra["data"]: source,
format, classes, test subjects; window and stride are the contract's own), so no option needs retyping;
options given override it. For the stream, each test-subject recording is fed sample by sample to
device_runtime's WindowStream (the exact code that runs on the Pi); the true activity of a prediction is
the one at its last sample, and moments outside the model's classes are not scored. A regression model is
scored in its target's unit (the contract's target scale and offset): on windows by MAE, RMSE, R^2 and each
subject's MAE beside the mean predictor; on the stream by the MAE over time of the value the runtime reports
(mean, median or no smoothing), the truth of a prediction being its window's mean target (windows without
one are not scored). No TensorFlow.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from device_runtime import preprocess
from device_runtime.contract import load_contract
from device_runtime.files import pinned_folder
from device_runtime.interpreter import Classifier
from device_runtime.smoothing import DEFAULT_VOTES, make_smoother
from device_runtime.stream import WindowStream
from train.data.dataset import DataConfig, check_rate, class_mapping, usable_recordings
from train.data.recording import UNLABELLED, DataError
from train.data.split import split_subjects
from train.evaluate import mean_value, prepare_raw, reports_folder, write_reports
from train.evaluate_plots import plot_sweep, plot_timeline
from train.metrics import classification_report, per_subject, regression_evaluation, subject_order
from train.report_table import markdown_table
from train.stream_metrics import OTHER, stream_report

SWEEP = [("vote", {"votes": k}) for k in (1, 3, 5, 7, 9)] + [
    ("ema", {"alpha": a, "hysteresis": h}) for a in (0.3, 0.5) for h in (0.0, 0.1, 0.2)
]


def data_config_for(model: str | Path, overrides: dict) -> DataConfig:
    """The data `model` was tested on, with the contract's window and stride, overridden by `overrides`
    (the data options given). Other data (a path or format given) drops the stored split subjects."""
    contract = load_contract(model)
    stored = contract.extra.get("data")
    stored = dict(stored) if isinstance(stored, dict) else {}
    if {"path", "format"} & set(overrides):
        for key in ("path", "format", "test_subjects", "validation_subjects", "classes", "rename", "units"):
            stored.pop(key, None)
    base = {**stored, "window": contract.window, "stride": contract.stride}
    try:
        DataConfig.from_dict(base)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{model}: the data settings in its contract are unusable ({str(error)[:200]}); "
                         "give the data options (--data, --format, --test-subjects, ...)") from None
    return DataConfig.from_dict({**base, **overrides})


def model_input(x: np.ndarray, quantization: dict | None) -> np.ndarray:
    """Normalised float windows -> what the model's input tensor takes (int8, or float32 as is)."""
    if quantization is None:
        return x.astype(np.float32)
    return preprocess.quantize(x, quantization["input_scale"], quantization["input_zero_point"])


def evaluate_tflite(path: str | Path, data: DataConfig, out: str | Path, with_robustness: bool = False) -> dict:
    """A .tflite on the test subjects of `data`, run the way the device runs it (its embedded contract), with
    each subject's accuracy and, if asked, the robustness section."""
    from train.robustness import device_predictor, robustness

    path, out = Path(path).absolute(), reports_folder(Path(out).absolute(), "`har evaluate`")
    contract = load_contract(path)
    regression = contract.task == "regression"
    if regression and with_robustness:
        raise ValueError("--robustness scores classifiers only; a regression model has no robustness section")
    prepared, raw = prepare_raw(data, contract)
    test = prepared.splits["test"]
    classifier = Classifier(path, contract)
    predict = device_predictor(classifier, contract)
    values = None
    if regression:
        values = (test.y, contract.target_values(predict(test.x)[:, 0]))
        metrics = regression_evaluation(*values, test.subjects, mean_value(prepared))
    else:
        predicted = predict(test.x).argmax(axis=1)
        metrics = classification_report(test.y, predicted, contract.class_names)
        metrics["per_subject"] = per_subject(test.y, predicted, test.subjects, names=contract.class_names)
    metrics.update(run=path.name, family=f"{path.name} ({classifier.interpreter_name})", params=None, macs=None,
                   test_subjects=subject_order(test.subjects.tolist()))
    if with_robustness:
        metrics["robustness"] = robustness(predict, contract, raw["test"], test.y)
    write_reports(metrics, contract, reports_folder(out, "`har evaluate`"), f"{path.name}: test subjects", values)
    return metrics


def window_probabilities(model_path: Path, contract, recordings, mapping: dict, class_names: list[str]):
    """Per recording: (subject, times of the predictions in ms, true class at each, probabilities of each)."""
    classifier = Classifier(model_path, contract)
    streams = []
    for recording in recordings:
        stream = WindowStream(classifier, contract, make_smoother("none"))
        to_class = np.array([class_names.index(mapping[n]) if n in mapping else OTHER for n in recording.label_names] + [OTHER])
        truth_of_sample = to_class[np.where(recording.labels == UNLABELLED, len(recording.label_names), recording.labels)]
        times, truth, probabilities = [], [], []
        for i, sample in enumerate(recording.samples):
            if stream.push(i * stream.period_ms, sample) is not None:
                times.append(i * stream.period_ms)
                truth.append(truth_of_sample[i])
                probabilities.append(stream.last_probabilities)
        streams.append((recording.subject, np.array(times), np.array(truth, dtype=int), np.array(probabilities)))
    return streams


def smooth(streams, kind: str, setting: dict) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for _, times, truth, probabilities in streams:
        smoother = make_smoother(kind, **setting)
        out.append((times, truth, np.array([smoother.update(p) for p in probabilities], dtype=int)))
    return out


def describe(kind: str, setting: dict) -> str:
    return f"vote {setting['votes']}" if kind == "vote" else f"EMA alpha {setting['alpha']:g}, hysteresis {setting['hysteresis']:g}"


def evaluate_stream(model_path: str | Path, data: DataConfig, out_dir: str | Path) -> dict:
    """Stream metrics of every smoothing setting in SWEEP; reports and plots in `out_dir`."""
    model_path = Path(model_path).absolute()
    out_dir = reports_folder(Path(out_dir).absolute(), "`har evaluate-stream`")
    contract = load_contract(model_path)
    recordings, test_subjects = test_recordings(data)
    source = str(data.path or "the embedded HAPT recordings")
    if recordings and list(recordings[0].channels) != list(contract.channels):
        raise DataError(source, f"the recordings' channels are {list(recordings[0].channels)}, the model's "
                        f"{list(contract.channels)}; choose them with --channels")
    for recording in recordings:
        check_rate(contract.sample_rate_hz, recording.sample_rate_hz, source)
    if contract.task == "regression":
        from train.evaluate_stream_values import evaluate_value_stream

        return evaluate_value_stream(model_path, contract, recordings, test_subjects, out_dir)
    if data.classes is None and data.format != "hapt" and not data.rename:
        data = dataclasses.replace(data, classes=list(contract.class_names))  # the model's, present or not
    mapping, class_names = class_mapping(data, recordings, absent_ok=True)
    if class_names != contract.class_names:
        raise ValueError(f"the data's classes {class_names} are not the model's {contract.class_names}; "
                         "choose them with --classes")
    streams = window_probabilities(model_path, contract, recordings, mapping, class_names)
    rows = []
    for kind, setting in SWEEP:
        rows.append({**stream_report(smooth(streams, kind, setting), class_names), "smoothing": describe(kind, setting)})
    default = next(r for r in rows if r["smoothing"] == describe("vote", {"votes": DEFAULT_VOTES}))
    timeline = [(s, t, y, p) for (s, t, y, _), (_, _, p) in zip(streams, smooth(streams, "vote", {"votes": DEFAULT_VOTES}))]
    report = {"model": str(model_path), "test_subjects": subject_order(test_subjects), "recordings": len(recordings),
              "default": default, "sweep": rows}
    reports_folder(out_dir, "`har evaluate-stream`")  # again: it may have changed while the stream ran
    with pinned_folder(out_dir) as write:
        write("timeline.png", plot_timeline(timeline, class_names, f"{model_path.name}: vote {DEFAULT_VOTES}, test subjects"))
        write("smoothing_sweep.png", plot_sweep(rows))
        write("stream_report.json", json.dumps(report, indent=2))
        write("stream_report.md", stream_markdown(report))
    return report


def test_recordings(data: DataConfig) -> tuple[list, list[str]]:
    """The whole recordings of the test subjects (with their derived target, if `data` names one), and
    those subjects."""
    recordings, _ = usable_recordings(data)
    test_subjects = split_subjects([r.subject for r in recordings], data)["test"]
    return [r for r in recordings if r.subject in test_subjects], test_subjects


def seconds(ms: float | None) -> str:
    """A delay for reports: seconds, or "n/a" when no activity change was there to measure."""
    return "n/a" if ms is None else f"{ms / 1000:.2f} s"


def stream_markdown(report: dict) -> str:
    d = report["default"]
    events = [(name, f"{e['precision']:.3f}", f"{e['recall']:.3f}", f"{e['f1']:.3f}", e["true_events"])
              for name, e in d["event_f1"].items()]
    sweep = [(r["smoothing"], f"{100 * r['accuracy']:.2f}%", f"{r['flips_per_minute']:.2f}", seconds(r["delay_ms_median"]),
              f"{r['event_macro_f1']:.3f}") for r in report["sweep"]]
    lines = [
        f"# Streaming evaluation of {Path(report['model']).name}",
        "",
        f"{report['recordings']} whole recordings of the test subjects {' '.join(report['test_subjects'])} "
        f"({d['minutes']:.0f} min), replayed through the device runtime's windowing; default smoothing "
        f"({d['smoothing']}).",
        "",
        f"- accuracy over time: {100 * d['accuracy']:.2f}% of {d['predictions']:,} predictions",
        f"- label flips: {d['flips_per_minute']:.2f} per minute (the truth changes {d['true_changes_per_minute']:.2f} per minute)",
        f"- delay from an activity change to the new label: median {seconds(d['delay_ms_median'])}, mean "
        f"{seconds(d['delay_ms_mean'])}; {d['changes_missed']} of {d['changes_detected'] + d['changes_missed']} changes never shown",
        f"- event-level macro-F1: {d['event_macro_f1']:.3f}",
        "",
        markdown_table(["class", "event precision", "event recall", "event F1", "true events"], events),
        "",
        "Timeline: timeline.png. Smoothing sweep (smoothing_sweep.png):",
        "",
        markdown_table(["smoothing", "accuracy", "flips/min", "median delay", "event macro-F1"], sweep),
    ]
    return "\n".join(lines) + "\n"
