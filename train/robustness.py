"""How a model holds up when the sensor is not the one it was trained on.

Each case perturbs raw windows the way real hardware or another pipeline would, then normalises them with
the contract and asks a `predict(normalised windows) -> probabilities` callable: the device's own
arithmetic for a converted model (quantize, device_runtime's Classifier), or a float Keras model during
cross-validation; both go through the same scoring. Sensor errors (bias, de-meaned gyro, gain, noise,
rate) are summarised by the worst drop against the clean figure; rotations of the sensor are reported
apart, because posture (sitting versus standing) is read from the direction of gravity, so a tilted mount
is a different problem from a noisy sensor.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from device_runtime.contract import Contract
from device_runtime.interpreter import Classifier
from device_runtime.line_parser import UNIT_SPELLINGS
from train.evaluate_tflite import model_input
from train.metrics import classification_report
from train.report_table import markdown_table

Predict = Callable[[np.ndarray], np.ndarray]  # normalised windows -> class probabilities
G = 9.80665
# Typical consumer MEMS noise densities (MPU-6050 class): accelerometer 400 ug/sqrt(Hz), gyroscope
# 0.005 deg/s/sqrt(Hz); over the Nyquist band of the model's rate they give the white noise's rms.
ACC_NOISE_G_PER_ROOT_HZ = 400e-6
GYRO_NOISE_DPS_PER_ROOT_HZ = 0.005
# What one unit of each known unit is worth in the reference units (g, rad/s); other spellings (m/s², °/s, dps)
# are read as these (UNIT_SPELLINGS).
TO_REFERENCE = {"g": 1.0, "mg": 1e-3, "m/s^2": 1 / G, "rad/s": 1.0, "deg/s": np.pi / 180}


def triad(contract: Contract, sensor: str) -> list[int]:
    """Indices of sensor_x, sensor_y, sensor_z in the contract's channels, or [] if it lacks them."""
    index = {name: i for i, name in enumerate(contract.channels)}
    names = [f"{sensor}_{axis}" for axis in "xyz"]
    return [index[n] for n in names] if all(n in index for n in names) else []


def per_unit(contract: Contract, channel: int) -> float:
    """How many of this channel's units make one reference unit (g or rad/s); 1 if the unit is unknown."""
    unit = contract.units[channel]
    return 1.0 / TO_REFERENCE.get(UNIT_SPELLINGS.get(unit, unit), 1.0)


def bias_scale(contract: Contract, sensor: str, size: float) -> np.ndarray:
    """Per channel, a bias of `size` reference units (g for "acc", rad/s for "gyro") in normalised units, 0 off
    the sensor: training adds bias to normalised windows, so the size goes through the channel's unit and its
    norm_std, as on the device."""
    channels = triad(contract, sensor)
    if size and not channels:
        raise ValueError(f"train.augment_{sensor}_bias = {size:g} adds a bias to {sensor}_x, {sensor}_y and {sensor}_z, "
                         f"and the data's channels are {contract.channels}; set it to 0")
    scale = np.zeros(contract.input_channels, np.float32)  # never on the fine-motion inputs: no window mean
    for c in channels:
        scale[c] = size * per_unit(contract, c) / contract.norm_std[c]
    return scale


def _bias(raw, contract, channels, size, rng):
    out = raw.copy()
    for c in channels:
        signs = rng.choice([-1.0, 1.0], size=(len(raw), 1))
        out[:, :, c] += signs * size * per_unit(contract, c)
    return out


def _gain(raw, channels, error, rng):
    out = raw.copy()
    gains = 1 + rng.choice([-error, error], size=(len(raw), 1, len(channels)))
    out[:, :, channels] *= gains
    return out


def _noise(raw, contract, acc, gyro, rng):
    out = raw.copy()
    band = np.sqrt(contract.sample_rate_hz / 2)
    for channels, density in ((acc, ACC_NOISE_G_PER_ROOT_HZ), (gyro, GYRO_NOISE_DPS_PER_ROOT_HZ * np.pi / 180)):
        for c in channels:
            out[:, :, c] += rng.normal(0, density * band * per_unit(contract, c), size=out.shape[:2])
    return out


def _rate(raw, factor):
    """The same motion sampled by a clock `factor` times too fast (more samples per second of motion)."""
    steps = np.arange(raw.shape[1]) / factor
    out = np.empty_like(raw)
    for c in range(raw.shape[2]):
        out[:, :, c] = np.array([np.interp(steps, np.arange(raw.shape[1]), w) for w in raw[:, :, c]])
    return out


def _rotate(raw, triads, axis, degrees):
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    i, j = [k for k in range(3) if k != axis]
    matrix = np.eye(3)
    matrix[i, i], matrix[i, j], matrix[j, i], matrix[j, j] = c, -s, s, c
    out = raw.copy()
    for triad in triads:
        out[:, :, triad] = raw[:, :, triad] @ matrix.T
    return out


def perturbations(raw: np.ndarray, contract: Contract, seed: int = 0) -> dict[str, tuple[str, np.ndarray]]:
    """name -> (kind, perturbed raw windows); kind is "sensor" or "rotation"."""
    rng = np.random.default_rng(seed)
    acc, gyro = triad(contract, "acc"), triad(contract, "gyro")
    cases: dict[str, tuple[str, np.ndarray]] = {}
    if gyro:
        for size in (0.05, 0.1, 0.3):
            cases[f"gyro_bias_{size}rad_s"] = ("sensor", _bias(raw, contract, gyro, size, rng))
        demeaned = raw.copy()
        demeaned[:, :, gyro] -= raw[:, :, gyro].mean(axis=1, keepdims=True)
        cases["gyro_mean_removed"] = ("sensor", demeaned)
    if acc:
        cases["acc_bias_0.05g"] = ("sensor", _bias(raw, contract, acc, 0.05, rng))
    if acc or gyro:
        cases["gain_error_5pct"] = ("sensor", _gain(raw, acc + gyro, 0.05, rng))
        cases["white_noise_mems"] = ("sensor", _noise(raw, contract, acc, gyro, rng))
    for percent in (-3, 3):
        cases[f"sample_rate_{percent:+d}pct"] = ("sensor", _rate(raw, 1 + percent / 100))
    triads = [t for t in (acc, gyro) if t]
    for axis, name in enumerate("xyz"):
        for degrees in (5, 10) if triads else ():
            cases[f"rotated_{degrees}deg_{name}"] = ("rotation", _rotate(raw, triads, axis, degrees))
    return cases


def device_predictor(classifier: Classifier, contract: Contract) -> Predict:
    """What the device computes: normalised windows quantized (for an int8 model) and run by the Classifier."""
    return lambda z: classifier.predict(model_input(z, contract.quantization))


def keras_predictor(model) -> Predict:
    """A float Keras model as a Predict, for scoring before conversion."""
    return lambda z: model.predict(z, batch_size=512, verbose=0)


def _score(predict: Predict, contract: Contract, raw: np.ndarray, y: np.ndarray) -> dict:
    report = classification_report(y, predict(contract.normalise(raw)).argmax(axis=1), contract.class_names)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def robustness(model: Classifier | Predict, contract: Contract, raw: np.ndarray, y: np.ndarray, seed: int = 0,
               cases: Iterable[str] | None = None) -> dict:
    """The `robustness` section of a report: clean and perturbed figures, and the worst sensor-error drop.

    `model` is a converted model's Classifier or any Predict; `cases` limits the section to those names."""
    predict = device_predictor(model, contract) if isinstance(model, Classifier) else model
    wanted = None if cases is None else set(cases)
    clean = _score(predict, contract, raw, y)
    section: dict = {"clean": clean, "rotation": {}}
    drops = []
    for name, (kind, windows) in perturbations(raw, contract, seed).items():
        if wanted is not None and name not in wanted:
            continue
        figures = _score(predict, contract, windows, y)
        figures["drop_points"] = round(100 * (clean["accuracy"] - figures["accuracy"]), 2)
        if kind == "rotation":
            section["rotation"][name] = figures
        else:
            section[name] = figures
            drops.append(figures["drop_points"])
    section["worst_drop_points"] = max(drops) if drops else 0.0
    return section


def robustness_lines(section: dict) -> list[str]:
    """The robustness section of a Markdown report: sensor errors, then rotations of the mount."""
    def rows(cases: dict) -> list[tuple]:
        return [(name, f"{100 * f['accuracy']:.2f}%", f"{f['macro_f1']:.4f}", f"{f['drop_points']:+.2f}")
                for name, f in cases.items()]

    sensor = {k: v for k, v in section.items() if isinstance(v, dict) and "drop_points" in v}
    headers = ["case", "accuracy", "macro-F1", "drop (points)"]
    lines = ["## Robustness", "", f"Clean: {100 * section['clean']['accuracy']:.2f}%, macro-F1 "
             f"{section['clean']['macro_f1']:.4f}. Worst sensor-error drop: {section['worst_drop_points']:.2f} points.",
             "", markdown_table(headers, rows(sensor)), ""]
    if section["rotation"]:
        lines += ["Sensor rotated (posture is read from the direction of gravity, so this measures how exactly "
                  "the device must be mounted as in training):", "", markdown_table(headers, rows(section["rotation"])), ""]
    return lines
