"""Classification and regression metrics in plain numpy, so every stage (Keras, LiteRT, TFLM) is scored alike."""
from __future__ import annotations

import numpy as np

from train.data.split import subject_key


def subject_order(subjects) -> list[str]:
    """Distinct subject ids in the data layer's natural order ("2" before "10"), as every report lists them."""
    return sorted(set(subjects), key=subject_key)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    A class never predicted has precision 0; a class absent from y_true has recall 0 (and support 0).
    Macro-F1 averages the classes that are in y_true or y_pred: one neither has (a class no test subject did)
    is no error of the model's.
    """
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "accuracy": float(tp.sum() / max(cm.sum(), 1)),
        "macro_f1": float(f1[(actual > 0) | (predicted > 0)].mean()) if cm.sum() else 0.0,
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, actual)
        },
        "class_names": list(class_names),
        "confusion_matrix": cm.tolist(),
        "windows": int(cm.sum()),
    }


def per_subject(y_true: np.ndarray, y_pred: np.ndarray, subjects: np.ndarray, regression: bool = False,
                names: list[str] | None = None) -> dict[str, dict]:
    """subject -> {windows, accuracy} (or {windows, mae} for `regression`), in subject order: a model that
    fails one person hides in the mean. Given the class `names`, also that subject's most frequent
    confusions (up to CONFUSIONS, largest first): what to look at when one person fails."""
    y_true, y_pred, subjects = np.asarray(y_true), np.asarray(y_pred), np.asarray(subjects).astype(str)
    figures = {}
    for subject in subject_order(subjects.tolist()):
        mine = subjects == subject
        if regression:
            error = np.abs(y_pred[mine].astype(np.float64) - y_true[mine].astype(np.float64))
            figures[subject] = {"windows": int(mine.sum()), "mae": float(error.mean())}
        else:
            figures[subject] = {"windows": int(mine.sum()), "accuracy": float((y_true[mine] == y_pred[mine]).mean())}
            if names is not None:
                figures[subject]["confusions"] = confusions(y_true[mine], y_pred[mine], names)
    return figures


CONFUSIONS = 3


def confusions(y_true: np.ndarray, y_pred: np.ndarray, names: list[str]) -> list[dict]:
    """The most frequent (true class, predicted class) errors, largest first, ties in class order."""
    wrong = y_true != y_pred
    pairs, counts = np.unique(np.stack([y_true[wrong], y_pred[wrong]], axis=1), axis=0, return_counts=True)
    order = sorted(range(len(counts)), key=lambda i: (-counts[i], *pairs[i]))[:CONFUSIONS]
    return [{"true": names[pairs[i][0]], "predicted": names[pairs[i][1]], "windows": int(counts[i])} for i in order]


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE and R^2 (1 - squared error over the truth's variance: 0 is the mean predictor's score)."""
    truth = np.asarray(y_true, dtype=np.float64).ravel()
    error = np.asarray(y_pred, dtype=np.float64).ravel() - truth
    variance = float(((truth - truth.mean()) ** 2).mean()) if truth.size else 0.0
    mse = float((error**2).mean())
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt(mse)), "windows": int(error.size),
            "r2": 1 - mse / variance if variance > 0 else 0.0}


def regression_evaluation(y_true: np.ndarray, y_pred: np.ndarray, subjects: np.ndarray, mean_value: float) -> dict:
    """What `har evaluate` reports of a regression model: MAE, RMSE and R^2, the same of the mean predictor
    (always `mean_value`, the training targets' mean) and each subject's MAE."""
    y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
    report = regression_report(y_true, y_pred)
    report["baseline_mean_predictor"] = {"value": float(mean_value), **regression_report(y_true, np.full(y_true.size, mean_value))}
    report["per_subject"] = per_subject(y_true, y_pred, subjects, regression=True)
    return report


def format_confusion(cm: list[list[int]] | np.ndarray, class_names: list[str]) -> str:
    """The confusion matrix as an aligned text table (rows: true, columns: predicted). Columns are headed by
    the names' first 10 characters, or, where two of those are alike, by the rows' numbers."""
    cm = np.asarray(cm)
    short = [n[:10] for n in class_names]
    if len(set(short)) < len(short):
        short = [str(k + 1) for k in range(len(class_names))]
        class_names = [f"{k} {name}" for k, name in zip(short, class_names)]
    width = max(max(len(n) for n in class_names), 6)
    cell = max(max(len(s) for s in short), len(str(cm.max())))
    lines = [" " * width + " | " + " ".join(f"{s:>{cell}}" for s in short) + "   <- predicted"]
    lines.append("-" * len(lines[0]))
    for name, row in zip(class_names, cm):
        lines.append(f"{name:>{width}} | " + " ".join(f"{v:>{cell}}" for v in row))
    return "\n".join(lines)


def pyplot():
    """matplotlib's pyplot, headless, with every text taken literally: a class name or unit like `$\\foo$` is
    data, not TeX (as TeX it stopped the report half-written with a parser's traceback)."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["text.parse_math"] = False
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: list[list[int]] | np.ndarray, class_names: list[str], title: str = ""):
    """A matplotlib figure of the row-normalised confusion matrix, with the counts written in."""
    plt = pyplot()

    cm = np.asarray(cm)
    share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = 1.2 + 0.75 * len(class_names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(len(class_names)):
        for j in range(len(class_names)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
