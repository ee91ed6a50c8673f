"""The preprocessing contract: every value that turns raw sensor rows into a model input, decided once.

It is written with each run, embedded in the .tflite by the converter, and read by the firmware generator
and the device runtime. Nothing downstream re-derives these values.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from device_runtime import preprocess

CONTRACT_VERSION = 1


@dataclass
class PreprocessingContract:
    sample_rate_hz: float
    channels: list[str]
    units: list[str]
    window: int  # samples per window
    stride: int  # samples between window starts
    class_names: list[str]
    norm_mean: list[float]  # per channel, fitted on training windows only
    norm_std: list[float]
    min_purity: float = 1.0
    allow_unlabelled: bool = False
    task: str = "classification"
    quantization: dict | None = None  # int8 input/output scale and zero point, set by the converter
    version: int = CONTRACT_VERSION
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.version != CONTRACT_VERSION:
            problems.append(f"version {self.version}, this toolchain reads version {CONTRACT_VERSION}")
        n = len(self.channels)
        for name in ("units", "norm_mean", "norm_std"):
            if len(getattr(self, name)) != n:
                problems.append(f"{name} has {len(getattr(self, name))} entries for {n} channels")
        if any(not s > 0 for s in self.norm_std):
            problems.append("norm_std must be positive")
        if not 0 < self.stride or not 0 < self.window:
            problems.append("window and stride must be positive")
        if self.task == "classification" and len(self.class_names) < 2:
            problems.append("a classifier needs at least two class names")
        if problems:
            raise ValueError("invalid preprocessing contract: " + "; ".join(problems))

    def normalise(self, windows: np.ndarray) -> np.ndarray:
        """(…, window, channels) raw units -> z-scores, with the device runtime's own arithmetic."""
        return preprocess.normalise(windows, self.norm_mean, self.norm_std)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "PreprocessingContract":
        data = json.loads(text)
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"invalid preprocessing contract: unknown fields {sorted(unknown)}")
        return cls(**data)
