"""How far apart two postures are in the direction of gravity, per subject (`har data posture`).

A model reads a static posture (sitting, standing) from the tilt of the sensor, the direction of the
accelerometer's window mean. When one subject's two postures tilt the sensor by only a few degrees apart,
no recipe separates them from tilt alone: this measures that limit on the data, before any model is trained.
"""
from __future__ import annotations

import statistics

import numpy as np

from train.data.dataset import Prepared
from train.data.split import subject_key
from train.robustness import triad

DEFAULT_PAIR = ("SITTING", "STANDING")


def _direction(raw: np.ndarray, acc: list[int]) -> np.ndarray:
    """The mean over windows of each window's unit gravity vector (the accelerometer's window mean)."""
    means = raw[:, :, acc].mean(axis=1)
    units = means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)
    return units.mean(axis=0)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    cosine = float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    return float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))))


def posture_angles(prepared: Prepared, pair: tuple[str, str] = DEFAULT_PAIR) -> dict:
    """Per split, each subject's angle in degrees between the mean gravity directions of the pair's two
    classes (subjects lacking either are left out), with the split's median and minimum."""
    contract = prepared.contract
    acc = triad(contract, "acc")
    if not acc:
        raise ValueError(f"the data's channels are {contract.channels}; the posture angle needs acc_x, acc_y, acc_z")
    missing = [c for c in pair if c not in contract.class_names]
    if missing:
        raise ValueError(f"--pair: {', '.join(missing)} is not a class of this data ({', '.join(contract.class_names)})")
    first, second = (contract.class_names.index(c) for c in pair)
    std, mean = np.asarray(contract.norm_std, np.float32), np.asarray(contract.norm_mean, np.float32)
    out: dict = {"pair": list(pair), "splits": {}}
    for name, split in prepared.splits.items():
        raw = split.x[:, :, : len(std)] * std + mean
        angles = {}
        for subject in sorted(set(split.subjects.tolist()), key=subject_key):
            mine = split.subjects == subject
            a, b = mine & (split.y == first), mine & (split.y == second)
            if a.any() and b.any():
                angles[subject] = round(_angle(_direction(raw[a], acc), _direction(raw[b], acc)), 1)
        summary = {"median": round(statistics.median(angles.values()), 1), "min": min(angles.values())} if angles else {}
        out["splits"][name] = {"degrees": angles, **summary}
    return out


def format_posture(angles: dict) -> str:
    """The angles as text for a terminal, one line per split."""
    first, second = angles["pair"]
    out = [f"angle between the mean gravity directions of {first} and {second}, per subject (degrees):"]
    for name, split in angles["splits"].items():
        if not split["degrees"]:
            out.append(f"{name}: no subject has both classes")
            continue
        shown = ", ".join(f"{s}:{d:g}" for s, d in split["degrees"].items())
        out.append(f"{name}: median {split['median']:g}, least {split['min']:g}  ({shown})")
    return "\n".join(out)
