"""From recordings on disk to normalised train/validation/test windows and the preprocessing contract."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device_runtime.contract import Contract
from train.config import known_keys_only
from train.data.csv_files import load_csv_folder
from train.data.hapt import EMBEDDED_HAPT, load_hapt
from train.data.pamap2 import load_pamap2
from train.data.recording import DataError, LoadReport, Recording
from train.data.split import class_mapping, split_subjects
from train.data.summary import summarise
from train.data.windows import Windows, cut_windows
from train.data.wisdm import load_wisdm

FORMATS = {"hapt": load_hapt, "csv": load_csv_folder, "wisdm": load_wisdm, "pamap2": load_pamap2}


@dataclass
class DataConfig:
    """Every choice between raw files and windows. Defaults reproduce the UCI HAR setup on HAPT."""

    path: str | None = None  # None: the HAPT recordings embedded in the repository
    format: str = "hapt"
    window: int | str = 128  # samples, or seconds as "2.56s"
    stride: int | str = 64
    classes: list[str] | None = None  # source labels to keep (None: HAPT's six daily activities, else all)
    rename: dict[str, str] = field(default_factory=dict)  # source label -> class name (several may merge)
    min_purity: float = 1.0
    allow_unlabelled: bool = False
    test_subjects: list[str] | None = None  # None: UCI HAR's test users for HAPT, else 20% chosen by seed
    validation_subjects: list[str] | None = None  # None: 5 15 25 for HAPT, else 15% of the rest by seed
    seed: int = 0
    resample_hz: float | None = None  # CSV only
    skip_bad_rows: bool = False  # CSV only: count and skip malformed rows instead of stopping
    target_column: str | None = None  # CSV only: numeric column for regression

    @classmethod
    def from_dict(cls, data: dict) -> "DataConfig":
        config = cls(**known_keys_only(cls, data, "data"))
        if config.format not in FORMATS:
            raise ValueError(f"[data] format '{config.format}' is not one of {sorted(FORMATS)}")
        return config


@dataclass
class Prepared:
    contract: Contract
    splits: dict[str, Windows]  # normalised windows per split
    summary: dict


def load_recordings(config: DataConfig) -> tuple[list[Recording], LoadReport]:
    path = Path(config.path) if config.path else EMBEDDED_HAPT
    if not path.exists():
        raise DataError(str(path), "does not exist")
    if config.format == "csv":
        return load_csv_folder(
            path, skip_bad_rows=config.skip_bad_rows, target_column=config.target_column, resample_hz=config.resample_hz
        )
    return FORMATS[config.format](path)


def to_samples(value: int | str, rate_hz: float, name: str) -> int:
    """A length in samples from `128` or from seconds written as `"2.56s"`."""
    if isinstance(value, str) and value.endswith("s"):
        return max(1, round(float(value[:-1]) * rate_hz))
    if isinstance(value, int) and value > 0:
        return value
    raise ValueError(f"[data] {name} must be a positive number of samples or seconds like '2.56s', not {value!r}")


def prepare(config: DataConfig, contract: Contract | None = None) -> Prepared:
    """Load, window, split by subject, and fit normalisation on the training windows only.

    Given the contract of a trained model, its normalisation is used instead (and must fit the data)."""
    recordings, report = load_recordings(config)
    rates = sorted({round(r.sample_rate_hz, 1) for r in recordings})
    if max(rates) > 1.01 * min(rates):
        raise DataError(
            str(config.path), f"recordings have different sample rates {rates} Hz; set resample_hz to one rate"
        )
    rate = float(np.median([r.sample_rate_hz for r in recordings]))
    window, stride = to_samples(config.window, rate, "window"), to_samples(config.stride, rate, "stride")
    regression = config.target_column is not None

    mapping, class_names = class_mapping(config, recordings, regression)
    windows, drops = cut_windows(
        recordings, window, stride, mapping, class_names, config.min_purity, config.allow_unlabelled, regression
    )

    assignment = split_subjects(list(windows.subjects), config)
    splits = {name: windows.select(np.isin(windows.subjects, subjects)) for name, subjects in assignment.items()}
    flat = splits["train"].x.reshape(-1, windows.x.shape[2]).astype(np.float64)
    std = flat.std(axis=0)
    fitted = Contract(
        sample_rate_hz=rate,
        channels=list(recordings[0].channels),
        units=list(recordings[0].units),
        window=window,
        stride=stride,
        class_names=class_names if not regression else [config.target_column],
        norm_mean=flat.mean(axis=0).tolist(),
        norm_std=np.where(std > 1e-8, std, 1.0).tolist(),
        min_purity=config.min_purity,
        allow_unlabelled=config.allow_unlabelled,
        task="regression" if regression else "classification",
    )
    if contract is None:
        contract = fitted
    else:
        for name in ("channels", "window", "stride", "class_names", "task"):
            if getattr(contract, name) != getattr(fitted, name):
                raise DataError(
                    str(config.path or EMBEDDED_HAPT),
                    f"the model's contract has {name}={getattr(contract, name)}, the data gives {getattr(fitted, name)}",
                )
    for split in splits.values():
        split.x = contract.normalise(split.x)
    summary = summarise(config, recordings, report, rates, drops, splits, assignment, contract)
    return Prepared(contract, splits, summary)


