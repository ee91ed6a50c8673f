"""`har evaluate`: score a trained run, or a .tflite, on the test subjects and write the reports.

Writes metrics.json, confusion.json, confusion.txt, confusion.png and report.md to runs/NAME/evaluation/
(or, for a .tflite, to the folder given).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from device_runtime.contract import Contract
from train.data.dataset import DataConfig, prepare
from train.fit import RunConfig, score
from train.metrics import classification_report, format_confusion, plot_confusion
from train.models import count_macs, keras


def resolve_run(path: str | Path) -> Path:
    """A run folder, or a model file inside one."""
    path = Path(path)
    run = path.parent if path.is_file() else path
    for needed in ("config.json", "contract.json", "model.keras"):
        if not (run / needed).exists():
            raise FileNotFoundError(f"{run} is not a finished run: {needed} is missing (train it with `har train`)")
    return run


def evaluate_tflite(path: str | Path, data: DataConfig, out: str | Path) -> dict:
    """A .tflite on the test subjects of `data`, run the way the device runs it (its embedded contract)."""
    from device_runtime import preprocess
    from device_runtime.interpreter import Classifier
    from device_runtime.contract import load_contract

    path, out = Path(path), Path(out)
    contract = load_contract(path)
    test = prepare(data, contract).splits["test"]
    classifier = Classifier(str(path), contract)
    q = contract.quantization
    inputs = preprocess.quantize(test.x, q["input_scale"], q["input_zero_point"]) if q else test.x
    scores = np.array([classifier.run(x)[0] for x in inputs])
    metrics = classification_report(test.y, scores.argmax(axis=1), contract.class_names)
    metrics.update(run=path.name, family=f"{path.name} ({classifier.interpreter_name})", params=None, macs=None,
                   test_subjects=sorted(set(test.subjects.tolist()), key=lambda s: (len(s), s)))
    write_reports(metrics, contract, out, f"{path.name}: test subjects")
    return metrics


def evaluate_run(path: str | Path) -> dict:
    run = resolve_run(path)
    config = RunConfig.from_dict(json.loads((run / "config.json").read_text()))
    contract = Contract.read(run / "contract.json")
    prepared = prepare(config.data, contract)
    model = keras.models.load_model(run / "model.keras")
    test = prepared.splits["test"]
    metrics = score(model, test, contract)
    training = json.loads((run / "training.json").read_text()) if (run / "training.json").exists() else {}
    metrics.update(
        run=run.name,
        family=config.family,
        params=int(model.count_params()),
        macs=count_macs(model),
        test_subjects=sorted(set(test.subjects.tolist()), key=lambda s: (len(s), s)),
        **training,
    )
    write_reports(metrics, contract, run / "evaluation", f"{run.name}: test subjects")
    return metrics


def write_reports(metrics: dict, contract: Contract, out: Path, title: str) -> None:
    """metrics.json, confusion.json/.txt/.png and report.md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if contract.task == "classification":
        (out / "confusion.json").write_text(
            json.dumps({"class_names": contract.class_names, "matrix": metrics["confusion_matrix"]}, indent=2)
        )
        (out / "confusion.txt").write_text(format_confusion(metrics["confusion_matrix"], contract.class_names) + "\n")
        import matplotlib.pyplot as plt

        figure = plot_confusion(metrics["confusion_matrix"], contract.class_names, title)
        figure.savefig(out / "confusion.png", dpi=110)
        plt.close(figure)
    (out / "report.md").write_text(markdown_report(metrics, contract))


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
        lines += ["| MAE | RMSE |", "|---|---|", f"| {metrics['mae']:.4f} | {metrics['rmse']:.4f} |"]
        return "\n".join(lines) + "\n"
    lines += [
        f"**Accuracy {100 * metrics['accuracy']:.2f}%, macro-F1 {metrics['macro_f1']:.4f}.**",
        "",
        "| class | precision | recall | F1 | windows |",
        "|---|---|---|---|---|",
    ]
    for name, m in metrics["per_class"].items():
        lines.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    lines += ["", "Confusion matrix (rows: true, columns: predicted), also in confusion.png:", "", "```"]
    lines += [format_confusion(metrics["confusion_matrix"], contract.class_names), "```", ""]
    return "\n".join(lines)
