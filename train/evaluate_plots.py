"""The evaluation figures as PNG bytes (written atomically by the caller): the streaming timeline of true and
predicted activities (or values, for a regression model), label flips against delay for every smoothing
setting, and a regression model's predicted against true values."""
from __future__ import annotations

import io

import numpy as np

from train.metrics import pyplot
from train.stream_metrics import OTHER


def png(figure, dpi: int = 100) -> bytes:
    """A figure as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=dpi)
    plt.close(figure)
    return buffer.getvalue()


def plot_timeline(streams, class_names: list[str], title: str, limit: int = 4) -> bytes:
    """The first `limit` recordings, each (subject, times in ms, true classes, predicted classes)."""
    shown = streams[:limit]
    fig, axes = pyplot().subplots(max(len(shown), 1), 1, figsize=(12, 1.9 * max(len(shown), 1)), squeeze=False)
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
    return png(fig)


def plot_sweep(rows: list[dict]) -> bytes:
    """Flips per minute against median delay; settings without a measurable delay (no activity change in
    the data) are left out."""
    fig, ax = pyplot().subplots(figsize=(7, 4.5))
    for row in rows:
        if row["delay_ms_median"] is None:
            continue
        marker = "o" if row["smoothing"].startswith("vote") else "s"
        point = (row["delay_ms_median"] / 1000, row["flips_per_minute"])
        ax.scatter(*point, marker=marker)
        ax.annotate(row["smoothing"], point, fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(rows[0]["true_changes_per_minute"], color="gray", ls="--", lw=1, label="true changes per minute")
    ax.set_xlabel("median delay after an activity change (s)")
    ax.set_ylabel("label flips per minute")
    ax.set_title("smoothing: steadier labels cost delay")
    ax.legend(fontsize=8)
    return png(fig)


def plot_predicted_vs_true(y_true: np.ndarray, y_pred: np.ndarray, unit: str, title: str) -> bytes:
    """A regression model's windows: predicted against true value, with the identity line (perfect)."""
    y_true, y_pred = np.asarray(y_true, np.float64).ravel(), np.asarray(y_pred, np.float64).ravel()
    fig, ax = pyplot().subplots(figsize=(5.5, 5.5))
    ax.scatter(y_true, y_pred, s=6, alpha=0.4, color="tab:blue", label=f"{y_true.size} windows")
    both = np.concatenate([y_true, y_pred])
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="predicted = true")
    label = f" ({unit})" if unit else ""
    ax.set_xlabel("true" + label)
    ax.set_ylabel("predicted" + label)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    return png(fig)


def plot_value_timeline(streams, unit: str, title: str, limit: int = 4) -> bytes:
    """The first `limit` recordings of a regression stream, each (subject, times in ms, true values with NaN
    where there is none, each window's value, the smoothed value the runtime reports)."""
    shown = streams[:limit]
    fig, axes = pyplot().subplots(max(len(shown), 1), 1, figsize=(12, 2.2 * max(len(shown), 1)), squeeze=False)
    for ax, (subject, times, truth, window, smoothed) in zip(axes[:, 0], shown):
        minutes = np.asarray(times) / 60000.0
        ax.plot(minutes, truth, color="black", lw=2.5, alpha=0.35, label="true")
        ax.plot(minutes, window, color="tab:gray", lw=0.6, alpha=0.7, label="window value")
        ax.plot(minutes, smoothed, color="tab:red", lw=1, label="reported (smoothed)")
        ax.set_ylabel(f"subject {subject}\n{unit}", fontsize=8)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("minutes")
    return png(fig)
