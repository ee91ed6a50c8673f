"""`har evaluate RUN`: score a trained run on its test subjects, and the report files every evaluation writes.

Writes metrics.json, confusion.json, confusion.txt, confusion.png and report.md, each atomically, to
runs/NAME/evaluation/ (evaluation-best/ for --checkpoint best), or for a .tflite (train/evaluate_tflite.py)
to the folder given. Every classification report has per-subject accuracy; --robustness adds the
robustness section (train/robustness.py). A regression model's report instead has MAE, RMSE and R^2 in the
target's unit beside the mean predictor (the training targets' mean), each subject's MAE and
predicted_vs_true.png. TensorFlow is imported only to evaluate a Keras run.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from device_runtime.contract import Contract
from device_runtime.files import TEMPORARY, pinned_folder
from train.data.dataset import DataConfig, Prepared, prepare
from train.evaluate_plots import plot_predicted_vs_true, png
from train.metrics import format_confusion, plot_confusion, regression_evaluation, subject_order
from train.report_table import fenced, markdown_table, per_subject_lines
from train.run import RunError, load, own_folder, resolve, training_summary


def prepare_raw(data: DataConfig, contract: Contract) -> tuple[Prepared, dict[str, np.ndarray]]:
    """`prepare(data, contract)` plus each split's raw windows, which the robustness cases perturb.

    The data is prepared once with an identity normalisation (x - 0) / 1, which leaves float32 values as
    read, then normalised with the contract's own arithmetic: the normalised windows are bit for bit those
    of `prepare(data, contract)`, and no inverse normalisation rounds the raw ones."""
    channels = len(contract.channels)
    prepared = prepare(data, dataclasses.replace(contract, norm_mean=[0.0] * channels, norm_std=[1.0] * channels,
                                                    fine_motion=None, vertical=None))
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
    values = None
    if contract.task == "regression":
        if with_robustness:
            raise ValueError("--robustness scores classifiers only; a regression run has no robustness section")
        values = (test.y, model.predict(test.x, batch_size=512, verbose=0)[:, 0])  # Keras reports in the unit
        metrics = regression_evaluation(*values, test.subjects, mean_value(prepared))
    else:
        metrics = score(model, test, contract)
    if with_robustness and contract.task == "classification":
        from train.robustness import keras_predictor, robustness

        metrics["robustness"] = robustness(keras_predictor(model), contract, raw["test"], test.y)
    metrics.update(
        run=run.name,
        family=config.family if checkpoint == "final" else f"{config.family}, best checkpoint",
        members=config.members,
        params=int(model.count_params()),
        macs=count_macs(model),
        test_subjects=subject_order(test.subjects.tolist()),
        **training,
    )
    write_reports(metrics, contract, evaluation_folder(run, checkpoint), f"{run.name}: test subjects", values)
    return metrics


def mean_value(prepared: Prepared) -> float:
    """The mean predictor's value: the mean target of the training windows (else the contract's offset)."""
    train = prepared.splits.get("train")
    if train is not None and len(train.y):
        return float(np.mean(train.y, dtype=np.float64))
    return float(prepared.contract.target["offset"]) if prepared.contract.target else 0.0


def evaluation_folder(run: Path, checkpoint: str) -> Path:
    """The run's own reports folder; a link there (to anywhere) or a file is refused, never written through."""
    folder = run / ("evaluation" if checkpoint == "final" else f"evaluation-{checkpoint}")
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise RunError(f"{folder}: a link or not a folder; the reports are written only into the run's own "
                       "folder (remove it and evaluate again)")
    return folder


# What `har evaluate MODEL.tflite` and `har evaluate-stream` write into --out (they may share one folder)
EVALUATION_FILES = ("metrics.json", "confusion.json", "confusion.txt", "confusion.png", "predicted_vs_true.png",
                    "report.md", "timeline.png", "smoothing_sweep.png", "stream_report.json", "stream_report.md")


def reports_folder(out: Path, made_by: str) -> Path:
    """`out` (--out), refused unless it is new or holds only evaluation reports as plain files (and the
    temporary files a killed write of one leaves). Checked before the work and again before writing."""
    def ours(path: Path) -> bool:
        temporary = TEMPORARY.fullmatch(path.name)
        name = temporary.group(1) if temporary else path.name
        return name in EVALUATION_FILES and path.is_file() and not path.is_symlink()

    return own_folder(out, "--out", made_by, ours)


def write_reports(metrics: dict, contract: Contract, out: Path, title: str, values=None) -> None:
    """metrics.json, confusion.json/.txt/.png and report.md in `out`; for a regression model metrics.json,
    predicted_vs_true.png of `values` (true, predicted) and report.md. Written into the folder `out` is when
    they start: a link swapped in for it meanwhile is not followed."""
    with pinned_folder(out) as write:
        write("metrics.json", json.dumps(metrics, indent=2))
        if contract.task == "classification":
            matrix = metrics["confusion_matrix"]
            write("confusion.json", json.dumps({"class_names": contract.class_names, "matrix": matrix}, indent=2))
            write("confusion.txt", format_confusion(matrix, contract.class_names) + "\n")
            write("confusion.png", png(plot_confusion(matrix, contract.class_names, title), dpi=110))
        elif values is not None:
            write("predicted_vs_true.png", plot_predicted_vs_true(*values, contract.target_unit, title))
        write("report.md", markdown_report(metrics, contract))


def markdown_report(metrics: dict, contract: Contract) -> str:
    lines = [
        f"# {metrics['run']}: {metrics['family']} on the test subjects",
        "",
        f"Test subjects: {' '.join(metrics['test_subjects'])} ({metrics['windows']} windows of "
        f"{contract.window} samples at {contract.sample_rate_hz:g} Hz, stride {contract.stride}).",
    ]
    if metrics.get("params"):
        lines.append(f"Parameters: {metrics['params']:,}; MACs per inference: {metrics['macs']:,}.")
    if metrics.get("final_model") == "members":
        lines.append(f"Training: the average of {metrics['members']} networks, each its own run in members/.")
    elif "fit_seconds" in metrics:
        lines.append(
            f"Training: {metrics['fit_seconds']:.0f} s, {metrics['epochs']} epochs; final model: "
            f"{metrics['final_model']} " + (f"(best validation epoch {metrics['best_epoch']})." if metrics["best_epoch"]
                                            else "(no validation subjects: every non-test subject trained it).")
        )
    lines.append("")
    if contract.task == "regression":
        return "\n".join(lines + regression_lines(metrics, contract.target_unit)) + "\n"
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
        *fenced(format_confusion(metrics["confusion_matrix"], contract.class_names)),
        "",
    ]
    if "robustness" in metrics:
        from train.robustness import robustness_lines

        lines += robustness_lines(metrics["robustness"])
    return "\n".join(lines)


def regression_lines(metrics: dict, unit: str) -> list[str]:
    """A regression report's body: the model beside the mean predictor, then each subject's MAE."""
    unit = unit or "target units"
    base = metrics.get("baseline_mean_predictor")
    scored = [("model", metrics)] + ([(f"mean predictor ({base['value']:.2f}, baseline)", base)] if base else [])
    rows = [(name, f"{m['mae']:.3f}", f"{m['rmse']:.3f}", f"{m['r2']:.3f}") for name, m in scored]
    lines = [f"**MAE {metrics['mae']:.3f} {unit}, RMSE {metrics['rmse']:.3f}, R^2 {metrics['r2']:.3f}.**", "",
             markdown_table(["", f"MAE ({unit})", f"RMSE ({unit})", "R^2"], rows), ""]
    figures = metrics.get("per_subject") or {}
    if figures:
        worst = max(figures, key=lambda s: figures[s]["mae"])
        lines += [f"Per subject: worst is subject {worst}, MAE {figures[worst]['mae']:.3f} over {figures[worst]['windows']} "
                  "windows.", "", markdown_table(["subject", f"MAE ({unit})", "windows"],
                                                 [(s, f"{f['mae']:.3f}", f["windows"]) for s, f in figures.items()]), ""]
    return lines + ["Predicted against true value, window by window: predicted_vs_true.png."]
