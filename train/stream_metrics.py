"""What a user feels from a stream of predictions: accuracy over time, label flips, delay after an activity
change, and event-level F1. Pure functions over (time, true label, predicted label) sequences.

Labels are class indices; -1 marks a moment whose true activity is outside the classes (unlabelled or a
transition): such moments are left out of accuracy and delays, and break events.
"""
from __future__ import annotations

import numpy as np

OTHER = -1


def segments(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """(label, first index, last index + 1) of every run of equal labels."""
    labels = np.asarray(labels)
    if not len(labels):
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts, ends = np.r_[0, edges], np.r_[edges, len(labels)]
    return [(int(labels[a]), int(a), int(b)) for a, b in zip(starts, ends)]


def flips_per_minute(times_ms: np.ndarray, predicted: np.ndarray) -> float:
    """Changes of the predicted label per minute of stream."""
    if len(times_ms) < 2:
        return 0.0
    minutes = (times_ms[-1] - times_ms[0]) / 60000.0
    return float(np.count_nonzero(np.diff(predicted))) / minutes if minutes > 0 else 0.0


def change_delays(times_ms: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> tuple[list[float], int]:
    """For every change of the true activity into a class (not into OTHER): the time from the change to the
    first prediction of the new class within that segment. The change is placed at the first prediction
    that sees the new activity, so delays come in steps of the stride (1.28 s for HAPT's default) and 0
    means "right at the first prediction". Returns (delays in ms, changes never followed)."""
    delays, missed = [], 0
    for index, (label, start, end) in enumerate(segments(truth)):
        if index == 0 or label == OTHER:
            continue
        hits = np.flatnonzero(predicted[start:end] == label)
        if len(hits):
            delays.append(float(times_ms[start + hits[0]] - times_ms[start]))
        else:
            missed += 1
    return delays, missed


def event_counts(truth: np.ndarray, predicted: np.ndarray, n_classes: int, overlap: float = 0.5) -> np.ndarray:
    """Per class [true events found, predicted events right, true events, predicted events].

    A true event (run of the class) is found when a predicted run of the same class covers at least
    `overlap` of it; a predicted run is right when it lies at least `overlap` inside a true run of the class."""
    true_runs = [s for s in segments(truth) if s[0] != OTHER]
    pred_runs = segments(predicted)

    def covered(a: int, b: int, others: list[tuple[int, int]]) -> bool:
        return any(max(0, min(b, d) - max(a, c)) >= overlap * (b - a) for c, d in others)

    counts = np.zeros((n_classes, 4), dtype=np.int64)
    for k in range(n_classes):
        t_runs = [(a, b) for label, a, b in true_runs if label == k]
        p_runs = [(a, b) for label, a, b in pred_runs if label == k]
        counts[k] = [sum(covered(a, b, p_runs) for a, b in t_runs), sum(covered(a, b, t_runs) for a, b in p_runs),
                     len(t_runs), len(p_runs)]
    return counts


def stream_report(streams: list[tuple[np.ndarray, np.ndarray, np.ndarray]], class_names: list[str]) -> dict:
    """Metrics over several recordings, each (times in ms, true labels, predicted labels): changes and events
    are counted inside each recording, never across the joins."""
    correct = known = flips = minutes = true_flips = missed = 0
    delays: list[float] = []
    counts = np.zeros((len(class_names), 4), dtype=np.int64)
    for times, truth, predicted in streams:
        times, truth, predicted = np.asarray(times, float), np.asarray(truth), np.asarray(predicted)
        mask = truth != OTHER
        correct += int((predicted[mask] == truth[mask]).sum())
        known += int(mask.sum())
        span = (times[-1] - times[0]) / 60000.0 if len(times) > 1 else 0.0
        flips += flips_per_minute(times, predicted) * span
        true_flips += float(np.count_nonzero(np.diff(truth[mask]))) if mask.any() else 0.0
        minutes += span
        d, m = change_delays(times, truth, predicted)
        delays += d
        missed += m
        counts += event_counts(truth, predicted, len(class_names))
    events = {}
    for name, (found, right, n_true, n_pred) in zip(class_names, counts):
        precision = right / n_pred if n_pred else 0.0
        recall = found / n_true if n_true else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        events[name] = {"precision": precision, "recall": recall, "f1": f1, "true_events": int(n_true), "predicted_events": int(n_pred)}
    return {
        "predictions": int(sum(len(s[2]) for s in streams)),
        "minutes": minutes,
        "accuracy": correct / known if known else 0.0,
        "flips_per_minute": flips / minutes if minutes else 0.0,
        "true_changes_per_minute": true_flips / minutes if minutes else 0.0,
        "delay_ms_median": float(np.median(delays)) if delays else None,
        "delay_ms_mean": float(np.mean(delays)) if delays else None,
        "changes_detected": len(delays),
        "changes_missed": missed,
        "event_f1": events,
        "event_macro_f1": float(np.mean([e["f1"] for e in events.values()])),
    }
