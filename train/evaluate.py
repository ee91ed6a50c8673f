"""`har evaluate RUN`: score a trained run on its test subjects, and the report files every evaluation writes.

Writes metrics.json, confusion.json, confusion.txt, confusion.png and report.md, each atomically, to
runs/NAME/evaluation/ (evaluation-best/ for --checkpoint best), or for a .tflite (train/evaluate_tflite.py)
to the folder given. Every classification report has per-subject accuracy; --robustness adds the
robustness section (train/robustness.py). TensorFlow is imported only to evaluate a Keras run.
"""
from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np

from device_runtime.contract import Contract
from device_runtime.files import atomic_write
from train.data.dataset import DataConfig, Prepared, prepare
from train.metrics import format_confusion, plot_confusion, subject_order
from train.report_table import markdown_table, per_subject_lines
from train.run import load, resolve, training_summary


def prepare_raw(data: DataConfig, contract: Contract) -> tuple[Prepared, dict[str, np.ndarray]]:
    """`prepare(data, contract)` plus each split's raw windows, which the robustness cases perturb.

    The data is prepared once with an identity normalisation (x - 0) / 1, which leaves float32 values as
    read, then normalised with the contract's own arithmetic: the normalised windows are bit for bit those
    of `prepare(data, contract)`, and no inverse normalisation rounds the raw ones."""
    channels = len(contract.channels)
    prepared = prepare(data, dataclasses.replace(contract, norm_mean=[0.0] * channels, norm_std=[1.0] * channels))
    raw = {name: split.x for name, split in prepared.splits.items()}
    for split in prepared.splits.values():
        split.x = contract.normalise(split.x)
    return dataclasses.replace(prepared, contract=contract), raw


def evaluate_run(path: str | Path, checkpoint: str = "final", with_robustness: bool = False) -> dict:
    """Metrics of a run's final (model.keras) or best (checkpoints/best.keras) model on its test subjects,
    with the float model's robustness section if asked."""
    run = resolve(path)
    training = training_summary(run)
    config, contract, model = load(run, checkpoint)  # imports TensorFlow once the files pass their checks
    from train.fit import score
    from train.models import count_macs

    prepared, raw = prepare_raw(config.data, contract)
    test = prepared.splits["test"]
    metrics = score(model, test, contract)
    if with_robustness and contract.task == "classification":
        from train.robustness import keras_predictor, robustness

        metrics["robustness"] = robustness(keras_predictor(model), contract, raw["test"], test.y)
    metrics.update(
        run=run.name,
        family=config.family if checkpoint == "final" else f"{config.family}, best checkpoint",
        params=int(model.count_params()),
        macs=count_macs(model),
        test_subjects=subject_order(test.subjects.tolist()),
        **training,
    )
    write_reports(metrics, contract, evaluation_folder(run, checkpoint), f"{run.name}: test subjects")
    return metrics


def evaluation_folder(run: Path, checkpoint: str) -> Path:
    return run / ("evaluation" if checkpoint == "final" else f"evaluation-{checkpoint}")


def write_reports(metrics: dict, contract: Contract, out: Path, title: str) -> None:
    """metrics.json, confusion.json/.txt/.png and report.md in `out`."""
    atomic_write(out / "metrics.json", json.dumps(metrics, indent=2))
    if contract.task == "classification":
        matrix = metrics["confusion_matrix"]
        atomic_write(out / "confusion.json", json.dumps({"class_names": contract.class_names, "matrix": matrix}, indent=2))
        atomic_write(out / "confusion.txt", format_confusion(matrix, contract.class_names) + "\n")
        import matplotlib.pyplot as plt

        figure = plot_confusion(matrix, contract.class_names, title)
        image = io.BytesIO()
        figure.savefig(image, format="png", dpi=110)
        plt.close(figure)
        atomic_write(out / "confusion.png", image.getvalue())
    atomic_write(out / "report.md", markdown_report(metrics, contract))


def markdown_report(metrics: dict, contract: Contract) -> str:
    lines = [
        f"# {metrics['run']}: {metrics['family']} on the test subjects",
        "",
        f"Test subjects: {' '.join(metrics['test_subjects'])} ({metrics['windows']} windows of "
        f"{contract.window} samples at {contract.sample_rate_hz:g} Hz, stride {contract.stride}).",
    ]
    if metrics.get("params"):
        lines.append(f"Parameters: {metrics['params']:,}; MACs per inference: {metrics['macs']:,}.")
    if "fit_seconds" in metrics:
        lines.append(
            f"Training: {metrics['fit_seconds']:.0f} s, {metrics['epochs']} epochs; final model: "
            f"{metrics['final_model']} (best validation epoch {metrics['best_epoch']})."
        )
    lines.append("")
    if contract.task == "regression":
        return "\n".join(lines + [markdown_table(["MAE", "RMSE"], [(f"{metrics['mae']:.4f}", f"{metrics['rmse']:.4f}")])]) + "\n"
    rows = [(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"])
            for name, m in metrics["per_class"].items()]
    lines += [
        f"**Accuracy {100 * metrics['accuracy']:.2f}%, macro-F1 {metrics['macro_f1']:.4f}.**",
        "",
        markdown_table(["class", "precision", "recall", "F1", "windows"], rows),
        "",
        *per_subject_lines(metrics.get("per_subject", {})),
        "Confusion matrix (rows: true, columns: predicted), also in confusion.png:",
        "",
        "```",
        format_confusion(metrics["confusion_matrix"], contract.class_names),
        "```",
        "",
    ]
    if "robustness" in metrics:
        from train.robustness import robustness_lines

        lines += robustness_lines(metrics["robustness"])
    return "\n".join(lines)
