"""The preprocessing contract: every value that turns raw sensor rows into a model input, decided once.

Training fits it, the converter embeds it in the .tflite, and the firmware generator and this runtime read
it back through `load_contract`. This is its only definition and the only place it is validated, so a
crafted or damaged contract is refused the same way everywhere. numpy and the standard library only: the
Raspberry Pi imports it.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device_runtime import preprocess
from device_runtime.contract_checks import CONTRACT_VERSION, MAX_NAME, contract_problems
from device_runtime.model_file import METADATA_NAME, ModelError, read_metadata, read_small_text


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
        problems = contract_problems(self)
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
        except (ValueError, RecursionError) as error:  # ValueError: bad JSON, or an integer of 4,300+ digits
            raise ContractError(f"{source}: not valid JSON ({str(error)[:200]})") from None
        return cls.from_dict(data, source)

    @classmethod
    def read(cls, path: str | Path) -> "Contract":
        """A contract JSON file (a run's contract.json or a model's sidecar)."""
        return cls.from_json(read_small_text(Path(path)), str(path))


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
            differing = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))  # a field one of them omits too
            raise ModelError(
                f"{beside} disagrees with the contract embedded in {path.name} on {differing}; "
                "the model and its settings do not belong together (reconvert, or delete the stale JSON)"
            )
    return contract
