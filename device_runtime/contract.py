"""The preprocessing contract: every value that turns raw sensor rows into a model input, decided once.

Training fits it, the converter embeds it in the .tflite, and the firmware generator and this runtime read
it back through `load_contract`. This is its only definition and the only place it is validated, so a
crafted or damaged contract is refused the same way everywhere. numpy and the standard library only: the
Raspberry Pi imports it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device_runtime import preprocess
from device_runtime.model_file import METADATA_NAME, ModelError, read_metadata, read_small_text

CONTRACT_VERSION = 1
TASKS = ("classification", "regression")
QUANTIZATION_KEYS = ("input_scale", "input_zero_point", "output_scale", "output_zero_point")
TARGET_KEYS = ("unit", "scale", "offset")
FINE_MOTION_KEYS = ("channels", "scale", "limit")
VERTICAL_KEYS = ("channels", "mean", "std")
MAX_CHANNELS, MAX_CLASSES, MAX_WINDOW, MAX_NAME = 64, 256, 100_000, 64


class ContractError(ModelError):
    """A contract that no stage may use: wrong types, impossible values or an unknown version."""


@dataclass(frozen=True)
class Contract:
    sample_rate_hz: float
    channels: list[str]
    units: list[str]
    window: int  # samples per window
    stride: int  # samples between window starts
    class_names: list[str]  # for regression: the target's name
    norm_mean: list[float]  # per channel, fitted on training windows only
    norm_std: list[float]  # per channel divisor: the standard deviation, or a range ([data] scaling = "range")
    min_purity: float = 1.0
    allow_unlabelled: bool = False
    task: str = "classification"
    quantization: dict | None = None  # int8 input/output scale and zero point, set by the converter
    # regression only: {"unit", "scale", "offset"}; the model outputs (value - offset) / scale. None: the
    # output is the value itself, unit unknown (contracts written before this field)
    target: dict | None = None
    # extra model inputs after the channels' z-scores (preprocess.fine_motion): {"channels": names, "scale":
    # raw units each, "limit": the clip}; None: none
    fine_motion: dict | None = None
    # two more inputs after those (preprocess.vertical): {"channels": an x, y, z triad, "mean" and "std": of the
    # vertical and horizontal acceleration, fitted on training windows}; None: none
    vertical: dict | None = None
    version: int = CONTRACT_VERSION
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ContractError("invalid preprocessing contract: " + "; ".join(problems))

    def normalise(self, windows: np.ndarray) -> np.ndarray:
        """(..., window, channels) raw units -> z-scores, with the device runtime's own arithmetic."""
        parts = [preprocess.normalise(windows, self.norm_mean, self.norm_std)]
        if self.fine_motion:
            parts.append(preprocess.fine_motion(windows, self.fine_motion_indices, self.fine_motion["scale"],
                                                self.fine_motion["limit"]))
        if self.vertical:
            parts.append(preprocess.vertical(windows, self.vertical_indices, self.vertical["mean"], self.vertical["std"]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    @property
    def fine_motion_indices(self) -> list[int]:
        return [self.channels.index(n) for n in self.fine_motion["channels"]] if self.fine_motion else []

    @property
    def vertical_indices(self) -> list[int]:
        return [self.channels.index(n) for n in self.vertical["channels"]] if self.vertical else []

    @property
    def input_channels(self) -> int:
        """Values per sample in the model's input: the channels, the fine-motion ones, then the vertical two."""
        return len(self.channels) + len(self.fine_motion_indices) + (2 if self.vertical else 0)

    def target_values(self, outputs: np.ndarray) -> np.ndarray:
        """Model outputs (dequantized) -> the target in its unit, with the firmware's float32 arithmetic."""
        if self.target is None:
            return np.asarray(outputs, dtype=np.float32)
        return preprocess.denormalise(outputs, self.target["scale"], self.target["offset"])

    @property
    def target_unit(self) -> str:
        return self.target["unit"] if self.target else ""

    def with_quantization(self, quantization: dict | None) -> "Contract":
        return dataclasses.replace(self, quantization=quantization)

    def to_dict(self) -> dict:
        """Without `vertical` when there is none: such a contract's JSON, and the model that embeds it, stay
        byte for byte what they were before that field existed."""
        data = dataclasses.asdict(self)
        if data["vertical"] is None:
            del data["vertical"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: object, source: str = "contract") -> "Contract":
        if not isinstance(data, dict):
            raise ContractError(f"{source}: a contract is a JSON object, not {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k)[:MAX_NAME] for k in data if k not in known)
        if unknown:
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ContractError(f"{source}: invalid preprocessing contract: unknown fields {unknown[:5]}{more}")
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ContractError(f"{source}: invalid preprocessing contract: missing fields {missing}")
        try:
            return cls(**data)
        except ContractError as error:
            raise ContractError(f"{source}: {error}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "contract") -> "Contract":
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise ContractError(f"{source}: not valid JSON ({str(error)[:200]})") from None
        return cls.from_dict(data, source)

    @classmethod
    def read(cls, path: str | Path) -> "Contract":
        """A contract JSON file (a run's contract.json or a model's sidecar)."""
        return cls.from_json(read_small_text(Path(path)), str(path))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _names(values: object, what: str, limit: int, problems: list[str]) -> int:
    """Check a list of short strings; return its length (0 when it is not one)."""
    shortest = 0 if what == "units" else 1  # a unit may be unknown ("")
    if not isinstance(values, list) or not all(isinstance(v, str) and shortest <= len(v) <= MAX_NAME for v in values):
        problems.append(f"{what} must be a list of names of {shortest}-{MAX_NAME} characters")
        return 0
    if not 0 < len(values) <= limit:
        problems.append(f"{what} has {len(values)} entries (1-{limit} allowed)")
    if len(set(values)) != len(values) and what != "units":
        problems.append(f"{what} repeats a name")
    return len(values)


def _problems(c: Contract) -> list[str]:
    """Everything wrong with the contract, in words naming the field."""
    problems: list[str] = []
    if c.version != CONTRACT_VERSION:
        return [f"version {c.version!r}, this toolchain reads version {CONTRACT_VERSION}"]
    if not _is_number(c.sample_rate_hz) or not 0.001 <= c.sample_rate_hz <= 100_000:
        problems.append("sample_rate_hz must be a number in [0.001, 100000]")
    n = _names(c.channels, "channels", MAX_CHANNELS, problems)
    if _names(c.units, "units", MAX_CHANNELS, problems) != n:
        problems.append(f"units must have one entry per channel ({n})")
    for name in ("norm_mean", "norm_std"):  # float32 on every device: 1e300 would be inf there, 1e-50 zero
        values = getattr(c, name)
        if not isinstance(values, list) or len(values) != n or not all(_is_number(v) and abs(v) < 3.4e38 for v in values):
            problems.append(f"{name} must be {n} finite float32 numbers, one per channel")
    if isinstance(c.norm_std, list) and any(_is_number(s) and not s > 1e-30 for s in c.norm_std):
        problems.append("norm_std must be positive float32 numbers (above 1e-30)")
    if not _is_int(c.window) or not 0 < c.window <= MAX_WINDOW:
        problems.append(f"window must be a whole number of samples in 1-{MAX_WINDOW}")
    if not _is_int(c.stride) or not 0 < c.stride <= MAX_WINDOW:
        problems.append(f"stride must be a whole number of samples in 1-{MAX_WINDOW}")
    if c.task not in TASKS:
        problems.append(f"task must be one of {list(TASKS)}")
    classes = _names(c.class_names, "class_names", MAX_CLASSES, problems)
    if c.task == "classification" and 0 < classes < 2:
        problems.append("a classifier needs at least two class names")
    if not _is_number(c.min_purity) or not 0 < c.min_purity <= 1:
        problems.append("min_purity must be in (0, 1]")
    if not isinstance(c.allow_unlabelled, bool):
        problems.append("allow_unlabelled must be true or false")
    if not isinstance(c.extra, dict):
        problems.append("extra must be an object")
    if c.quantization is not None:
        problems += _quantization_problems(c.quantization)
    if c.target is not None:
        problems += _target_problems(c.target, c.task)
    if c.fine_motion is not None:
        problems += _fine_motion_problems(c.fine_motion, c.channels if n else [])
    if c.vertical is not None:
        problems += _vertical_problems(c.vertical, c.channels if n else [])
    return problems


def _vertical_problems(v: object, channels: list[str]) -> list[str]:
    if not isinstance(v, dict) or set(v) != set(VERTICAL_KEYS):
        return [f"vertical must be null or an object with exactly {list(VERTICAL_KEYS)}"]
    names, mean, std = v["channels"], v["mean"], v["std"]
    problems = []
    if not isinstance(names, list) or len(names) != 3 or len(set(map(str, names))) != 3 or any(
            not isinstance(c, str) or c not in channels for c in names):
        problems.append("vertical.channels must be 3 distinct names from channels (an x, y, z triad)")
    if not isinstance(mean, list) or len(mean) != 2 or not all(_is_number(m) and abs(m) < 3.4e38 for m in mean):
        problems.append("vertical.mean must be 2 finite float32 numbers (vertical, horizontal)")
    if not isinstance(std, list) or len(std) != 2 or not all(_is_number(s) and 1e-30 < s < 3.4e38 for s in std):
        problems.append("vertical.std must be 2 positive finite float32 numbers (vertical, horizontal)")
    return problems


def _fine_motion_problems(f: object, channels: list[str]) -> list[str]:
    if not isinstance(f, dict) or set(f) != set(FINE_MOTION_KEYS):
        return [f"fine_motion must be null or an object with exactly {list(FINE_MOTION_KEYS)}"]
    names, scale, limit = f["channels"], f["scale"], f["limit"]
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names) or any(
            not isinstance(v, str) or v not in channels for v in names):
        return ["fine_motion.channels must list distinct names from channels"]
    problems = []
    if not isinstance(scale, list) or len(scale) != len(names) or not all(_is_number(v) and 1e-30 < v < 3.4e38 for v in scale):
        problems.append(f"fine_motion.scale must be {len(names)} positive finite float32 numbers, one per fine-motion channel")
    if not _is_number(limit) or not 0 < limit <= 1e6:
        problems.append("fine_motion.limit must be a number in (0, 1000000]")
    return problems


def _target_problems(t: object, task: str) -> list[str]:
    if task != "regression":
        return ["target is for regression models only (null for a classifier)"]
    if not isinstance(t, dict) or set(t) != set(TARGET_KEYS):
        return [f"target must be null or an object with exactly {list(TARGET_KEYS)}"]
    problems = []
    if not isinstance(t["unit"], str) or len(t["unit"]) > MAX_NAME:
        problems.append(f"target.unit must be a name of 0-{MAX_NAME} characters")
    if not _is_number(t["scale"]) or not 0 < t["scale"] < 3.4e38:
        problems.append("target.scale must be a positive finite float32 number")
    if not _is_number(t["offset"]) or not abs(t["offset"]) < 3.4e38:
        problems.append("target.offset must be a finite float32 number")
    return problems


def _quantization_problems(q: object) -> list[str]:
    if not isinstance(q, dict) or set(q) != set(QUANTIZATION_KEYS):
        return [f"quantization must be null or an object with exactly {list(QUANTIZATION_KEYS)}"]
    problems = []
    for side in ("input", "output"):
        scale, zero = q[f"{side}_scale"], q[f"{side}_zero_point"]
        if not _is_number(scale) or not 1e-30 < scale < 3.4e38:
            problems.append(f"quantization.{side}_scale must be a positive finite float32 number")
        if not _is_int(zero) or not -128 <= zero <= 127:
            problems.append(f"quantization.{side}_zero_point must be a whole number in -128..127")
    return problems


def contract_from_model(model: bytes, source: str = "model") -> Contract:
    """The contract embedded in a .tflite's metadata by `har convert`, validated."""
    metadata = read_metadata(model, source)
    if METADATA_NAME not in metadata:
        raise ModelError(
            f"{source}: no preprocessing contract in the model's metadata; convert it with `har convert` "
            "so the window, channels, normalisation and classes travel with it"
        )
    try:
        text = metadata[METADATA_NAME].decode("utf-8")
    except UnicodeDecodeError as error:
        raise ModelError(f"{source}: the embedded contract is not UTF-8 ({error})") from None
    return Contract.from_json(text, f"{source} (embedded contract)")


def sidecar_path(model_path: str | Path) -> Path:
    """MODEL.contract.json: the human-readable copy written beside MODEL.tflite."""
    path = Path(model_path)
    return path.with_name(path.stem + ".contract.json")


def load_contract(model_path: str | Path) -> Contract:
    """The model's contract; if the JSON copy beside it exists, it must say the same."""
    path = Path(model_path)
    contract = contract_from_model(read_small_text(path, binary=True), str(path))
    beside = sidecar_path(path)
    if beside.exists():
        other = Contract.read(beside)
        if other != contract:
            a, b = other.to_dict(), contract.to_dict()
            differing = sorted(k for k in a if a[k] != b[k])
            raise ModelError(
                f"{beside} disagrees with the contract embedded in {path.name} on {differing}; "
                "the model and its settings do not belong together (reconvert, or delete the stale JSON)"
            )
    return contract
