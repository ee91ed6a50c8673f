"""Window -> model input, exactly as in training: z-score normalisation, then int8 quantization.

numpy only, so the Raspberry Pi runs the same arithmetic as the training pipeline (which imports it) and
as the generated C (float32, round half away from zero, saturate to [-128, 127]).
"""
from __future__ import annotations

import numpy as np


def normalise(windows: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """(..., T, C) raw sensor units -> float32 z-scores per channel."""
    m = np.asarray(mean, dtype=np.float32)
    s = np.asarray(std, dtype=np.float32)
    return ((np.asarray(windows, dtype=np.float32) - m) / s).astype(np.float32)


def window_mean(x: np.ndarray) -> np.ndarray:
    """(..., T, C) float32 -> (..., 1, C): a float64 sum, oldest sample first, divided by T, rounded to
    float32, as the generated C computes it."""
    total = np.cumsum(x.astype(np.float64), axis=-2)[..., -1:, :]  # sequential, unlike np.sum's pairwise
    return (total / x.shape[-2]).astype(np.float32)


def fine_motion(windows: np.ndarray, channels: list[int], scale: list[float], limit: float) -> np.ndarray:
    """(..., T, C) raw units -> (..., T, len(channels)): each listed channel minus its window mean, divided by
    its scale and clipped to +-limit. A still posture's small motion (standing sways, sitting hardly does) is
    far below one int8 step of a z-score; amplified here it reaches the model, and without the window mean a
    gyro's bias does not."""
    x = np.asarray(windows, dtype=np.float32)[..., channels]
    out = ((x - window_mean(x)) / np.asarray(scale, dtype=np.float32)).astype(np.float32)
    return np.clip(out, np.float32(-limit), np.float32(limit)).astype(np.float32)


def vertical(windows: np.ndarray, triad: list[int], mean: list[float], std: list[float]) -> np.ndarray:
    """(..., T, C) raw units -> (..., T, 2): the triad's motion (each value minus its window mean m) along m,
    which is gravity (up and down, wherever the sensor points), and the size of the rest (the horizontal
    motion), as z-scores. No rotation of the sensor changes them, and stairs and level walking differ in them.
    Without gravity's own size, which a sensor's gain or offset changes, so the model cannot read that.
    float32, each product rounded on its own and summed x, y, then z, as the generated C does it; a window
    whose mean is zero has no vertical (0)."""
    a = np.asarray(windows, dtype=np.float32)[..., triad]
    m = window_mean(a)
    d = a - m
    m0, m1, m2 = m[..., 0], m[..., 1], m[..., 2]
    norm = np.sqrt((m0 * m0 + m1 * m1) + m2 * m2)
    along = (d[..., 0] * m0 + d[..., 1] * m1) + d[..., 2] * m2
    up = np.where(norm > 0, along / np.where(norm > 0, norm, np.float32(1)), np.float32(0)).astype(np.float32)
    rest = (d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1]) + d[..., 2] * d[..., 2] - up * up
    side = np.sqrt(np.maximum(rest, np.float32(0)))
    out = (np.stack([up, side], axis=-1) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return out.astype(np.float32)


def quantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32 -> int8 as the generated C does it: v / scale, rounded half away from zero, plus zero point."""
    scaled = np.asarray(values, dtype=np.float32) / np.float32(scale)
    whole = np.trunc(scaled)
    rounded = np.where(np.abs(scaled - whole) == 0.5, whole + np.sign(scaled), np.rint(scaled))  # C's roundf
    return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((np.asarray(values, dtype=np.float32) - zero_point) * np.float32(scale)).astype(np.float32)


def denormalise(outputs: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """A regression output (z-score of the target) -> the target's unit, as the generated C does it:
    float32 product, rounded, then float32 sum (never fused into one multiply-add)."""
    product = (np.asarray(outputs, dtype=np.float32) * np.float32(scale)).astype(np.float32)
    return (product + np.float32(offset)).astype(np.float32)
