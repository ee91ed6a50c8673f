"""From recordings on disk to normalised train/validation/test windows and the preprocessing contract."""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device_runtime import preprocess
from device_runtime.contract import Contract
from device_runtime.line_parser import unit_mismatch
from train.config import checked, length
from train.data.csv_files import load_csv_folder
from train.data.hapt import EMBEDDED_HAPT, load_hapt
from train.data.pamap2 import load_pamap2
from train.data.recording import DataError, LoadReport, Recording, printable_name, select_channels
from train.data.split import class_mapping, split_subjects
from train.data.summary import summarise
from train.data.targets import TARGETS, target_normalisation, with_target
from train.data.units import apply_units
from train.data.windows import Windows, cut_windows
from train.data.wisdm import load_wisdm

FORMATS = {"hapt": load_hapt, "csv": load_csv_folder, "wisdm": load_wisdm, "pamap2": load_pamap2}


SCALINGS = ("std", "range")
RANGE_QUANTILE, RANGE_LEVEL = 99.9, 3.0  # "range": a channel's 99.9th percentile of |value - mean| maps to 3.0
# fine motion: a channel's scale is the 25th percentile of the training windows' own standard deviations (a
# still window's typical size, in the channel's unit), and its values are clipped at 8 of those, about the
# reach of the z-scores, so the fine channels never set the shared int8 input scale
FINE_QUANTILE, FINE_LIMIT = 25.0, 8.0


@dataclass
class DataConfig:
    """Every choice between raw files and windows. Defaults reproduce the UCI HAR setup on HAPT."""

    path: str | None = None  # None: the HAPT recordings embedded in the repository
    format: str = "hapt"
    window: int | str = "2.56s"  # seconds as "2.56s" (converted at the dataset's rate), or samples
    stride: int | str = "1.28s"
    classes: list[str] | None = None  # source labels to keep (None: HAPT's six daily activities, else all)
    rename: dict[str, str] = field(default_factory=dict)  # source label -> class name (several may merge)
    units: dict[str, str] = field(default_factory=dict)  # channel or sensor prefix -> unit, where files give none
    channels: list[str] | None = None  # the channels the model reads, e.g. the accelerometer's (None: all)
    min_purity: float = 1.0
    allow_unlabelled: bool = False
    test_subjects: list[str] | None = None  # None: UCI HAR's test users for HAPT, else 20% chosen by seed
    validation_subjects: list[str] | None = None  # None: 5 15 25 for HAPT, else 15% of the rest by seed
    seed: int = 0
    resample_hz: float | None = None  # CSV only
    skip_bad_rows: bool = False  # CSV only: count and skip malformed rows instead of stopping
    target_column: str | None = None  # CSV only: numeric column for regression
    target: str | None = None  # a target derived from the recordings (train/data/targets.py): "cadence"
    scaling: str = "std"  # per-channel divisor: "std" (z-scores) or "range" (every channel's tail at the same level)
    fine_motion: list[str] = field(default_factory=list)  # channels or sensor prefixes ("gyro") also given to the
    # model as small motion: minus the window mean, amplified (device_runtime/preprocess.py fine_motion)
    vertical: str = ""  # a sensor prefix ("acc"): its motion along gravity and across it as 2 more inputs
    # (device_runtime/preprocess.py vertical); "": none

    @classmethod
    def from_dict(cls, data: dict) -> "DataConfig":
        """The [data] table, every value checked before any file is read."""
        data = dict(data)
        for key in ("test_subjects", "validation_subjects"):  # TOML's [2, 4] names subjects "2" and "4"
            if isinstance(data.get(key), list):
                data[key] = [str(s) if isinstance(s, int) and not isinstance(s, bool) else s for s in data[key]]
        config = cls(**checked(cls, data, "data"))
        if config.format not in FORMATS:
            raise ValueError(f"[data] format '{config.format}' is not one of {sorted(FORMATS)}")
        if config.scaling not in SCALINGS:
            raise ValueError(f"[data] scaling '{config.scaling}' is not one of {list(SCALINGS)}")
        if config.target is not None and config.target not in TARGETS:
            raise ValueError(f"[data] target '{config.target}' is not one of {sorted(TARGETS)}")
        if config.target is not None and config.target_column is not None:
            raise ValueError("[data] target and target_column both name a regression target; give one")
        for name in config.rename.values():  # class names, printed and embedded like the data's own labels
            printable_name(name, "[data] rename", "activity")
        for key in ("window", "stride"):
            samples_or_seconds = length(getattr(config, key), key)
            if isinstance(samples_or_seconds, int):
                setattr(config, key, samples_or_seconds)
        return config


@dataclass
class Prepared:
    contract: Contract
    splits: dict[str, Windows]  # normalised windows per split
    summary: dict


def load_recordings(config: DataConfig) -> tuple[list[Recording], LoadReport]:
    """Every recording of the dataset, and what the loader skipped or noticed."""
    path = Path(config.path) if config.path else EMBEDDED_HAPT
    if not path.exists():
        raise DataError(str(path), "does not exist (--data)")
    if config.format == "csv":
        return load_csv_folder(
            path, skip_bad_rows=config.skip_bad_rows, target_column=config.target_column, resample_hz=config.resample_hz
        )
    given = [name for name in ("skip_bad_rows", "target_column", "resample_hz") if getattr(config, name)]
    if given:
        raise DataError(str(path), f"{given} read CSV data only, and the format is {config.format}")
    return FORMATS[config.format](path)


def usable_recordings(
    config: DataConfig, loaded: tuple[list[Recording], LoadReport] | None = None
) -> tuple[list[Recording], LoadReport]:
    """The recordings as every stage reads them (unless `loaded` by `load_recordings` already): with their
    derived target, the units declared and checked, the channels chosen, and one sample rate."""
    recordings, report = loaded or load_recordings(config)
    if config.target is not None:
        recordings = with_target(recordings, config.target)
    recordings, warnings = apply_units(recordings, config.units, str(config.path or EMBEDDED_HAPT))
    recordings = select_channels(recordings, config.channels, str(config.path or EMBEDDED_HAPT))
    report = dataclasses.replace(report, warnings=report.warnings + warnings)  # a shared `loaded` stays as it was
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    rates = sorted({round(r.sample_rate_hz, 1) for r in recordings})
    if max(rates) > 1.01 * min(rates):
        raise DataError(
            str(config.path), f"recordings have different sample rates {rates} Hz; set resample_hz to one rate"
        )
    return recordings, report


def prepare(
    config: DataConfig, contract: Contract | None = None, loaded: tuple[list[Recording], LoadReport] | None = None
) -> Prepared:
    """Load (unless `loaded` by `load_recordings` already), window, split by subject, and fit normalisation
    on the training windows only.

    Given the contract of a trained model, its normalisation is used instead (and must fit the data)."""
    recordings, report = usable_recordings(config, loaded)
    rates = sorted({round(r.sample_rate_hz, 1) for r in recordings})
    rate = float(np.median([r.sample_rate_hz for r in recordings]))
    window, stride = length(config.window, "window", rate), length(config.stride, "stride", rate)
    target_name = config.target or config.target_column
    regression = target_name is not None

    mapping, class_names = class_mapping(config, recordings, regression)
    windows, drops = cut_windows(
        recordings, window, stride, mapping, class_names, config.min_purity, config.allow_unlabelled, regression
    )

    assignment = split_subjects(list(windows.subjects), config, {r.subject for r in recordings})
    splits = {name: windows.select(np.isin(windows.subjects, subjects)) for name, subjects in assignment.items()}
    mean, std = _normalisation(splits["train"], recordings[0].channels, config)
    fine = _fine_motion(splits["train"], list(recordings[0].channels), config)
    vertical = _vertical(splits["train"], list(recordings[0].channels), config)
    fitted = Contract(
        sample_rate_hz=rate,
        channels=list(recordings[0].channels),
        units=list(recordings[0].units),
        window=window,
        stride=stride,
        class_names=class_names if not regression else [target_name],
        norm_mean=mean.tolist(),
        norm_std=np.where(std > 1e-8, std, 1.0).tolist(),
        min_purity=config.min_purity,
        allow_unlabelled=config.allow_unlabelled,
        task="regression" if regression else "classification",
        target=target_normalisation(splits["train"].y, TARGETS[config.target].unit if config.target else "",
                                    centred=config.target is not None) if regression else None,
        fine_motion=fine,
        vertical=vertical,
    )
    if contract is None:
        contract = fitted
    else:
        _check_fits(contract, fitted, str(config.path or EMBEDDED_HAPT))
    for split in splits.values():
        split.x = contract.normalise(split.x)
    summary = summarise(config, recordings, report, rates, drops, splits, assignment, contract)
    return Prepared(contract, splits, summary)


def target_options(contract: Contract) -> dict:
    """The DataConfig options that give a regression contract's target back: a derived target by its name,
    else the CSV column it was read from."""
    if contract.task != "regression":
        return {}
    name = contract.class_names[0]
    return {"target": name} if name in TARGETS else {"target_column": name}


def _check_fits(contract: Contract, fitted: Contract, source: str) -> None:
    """A trained model's contract must fit the data: same channels, window, classes, and units where both
    name them (a model in rad/s scores nonsense on deg/s)."""
    for name in ("channels", "window", "stride", "class_names", "task"):
        if getattr(contract, name) != getattr(fitted, name):
            raise DataError(source, f"the model's contract has {name}={getattr(contract, name)}, "
                            f"the data gives {getattr(fitted, name)}")
    check_rate(contract.sample_rate_hz, fitted.sample_rate_hz, source)
    problem = unit_mismatch(dict(zip(fitted.channels, fitted.units)), contract.channels, contract.units)
    if problem:
        raise DataError(source, problem)


def check_rate(model_hz: float, data_hz: float, source: str) -> None:
    """A model's windows are so many samples: data at another rate (beyond 1%) is other motion to it."""
    if abs(data_hz - model_hz) > 0.01 * model_hz:
        raise DataError(source, f"the data's sample rate is {data_hz:g} Hz and the model's {model_hz:g} Hz; "
                        "resample the data to the model's rate (--resample-hz)")


def fine_motion_channels(names: list[str], channels: list[str]) -> list[str]:
    """[data] fine_motion's entries (a channel, or a sensor prefix such as "gyro") as channel names. An entry the
    channels lack is left out with a warning (the default's "gyro" on an accelerometer-only selection); if none
    is there, the setting is surely a mistake."""
    picked: list[str] = []
    for name in names:
        matches = [c for c in channels if c == name or c.startswith(f"{name}_")]
        if not matches:
            print(f"warning: [data] fine_motion: '{name}' is neither a channel nor a sensor prefix of {channels}; "
                  "left out", file=sys.stderr)
        picked += [c for c in matches if c not in picked]
    if not picked:
        raise ValueError(f"[data] fine_motion: none of {names} is a channel or a sensor prefix of {channels}; "
                         "name them, or set fine_motion = []")
    return picked


def _fine_motion(train: Windows, channels: list[str], config: DataConfig) -> dict | None:
    """The fine-motion part of the contract, fitted on the training windows (None when not asked)."""
    if not config.fine_motion:
        return None
    names = fine_motion_channels(config.fine_motion, channels)
    spread = train.x[:, :, [channels.index(n) for n in names]].astype(np.float64).std(axis=1)
    scale = np.percentile(spread, FINE_QUANTILE, axis=0)
    scale = np.maximum(scale, np.maximum(spread.mean(axis=0) * 1e-2, 1e-12))  # windows mostly flat
    return {"channels": names, "scale": [float(np.float32(v)) for v in scale], "limit": FINE_LIMIT}


def _vertical(train: Windows, channels: list[str], config: DataConfig) -> dict | None:
    """The vertical part of the contract: the sensor's triad, and the mean and standard deviation of its
    vertical and horizontal motion over the training windows (None when not asked)."""
    if not config.vertical:
        return None
    names = [f"{config.vertical}_{axis}" for axis in "xyz"]
    if not set(names) <= set(channels):
        raise ValueError(f"[data] vertical = '{config.vertical}' needs the channels {names}; the data's are "
                         f"{channels} (set vertical = \"\" for none)")
    triad = [channels.index(n) for n in names]
    values = preprocess.vertical(train.x, triad, [0.0, 0.0], [1.0, 1.0]).reshape(-1, 2).astype(np.float64)
    std = np.maximum(values.std(axis=0), 1e-6)
    return {"channels": names, "mean": [float(np.float32(m)) for m in values.mean(axis=0)],
            "std": [float(np.float32(v)) for v in std]}


def _normalisation(train: Windows, channels: tuple[str, ...], config: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and divisor of the training windows, which must be finite: a value that slipped past
    the loaders would otherwise make every input NaN.

    "std" divides by the standard deviation. "range" divides so that every channel's RANGE_QUANTILE of
    |value - mean| lands at RANGE_LEVEL: the int8 input has one scale for all channels, and with z-scores a
    heavy-tailed channel (a gyro's turns) sets it, leaving a smooth one (the accelerometer's tilt) few steps.
    Never below std / RANGE_LEVEL: a channel constant but for rare events has a percentile near zero, and
    would otherwise reach thousands."""
    flat = train.x.reshape(-1, train.x.shape[2]).astype(np.float64)
    mean, spread = flat.mean(axis=0), flat.std(axis=0)
    if config.scaling == "range":
        spread = np.maximum(np.percentile(np.abs(flat - mean), RANGE_QUANTILE, axis=0), spread) / RANGE_LEVEL
    bad = [c for c, m, s in zip(channels, mean, spread) if not (np.isfinite(m) and np.isfinite(s))]
    if bad:
        raise DataError(str(config.path or EMBEDDED_HAPT), f"normalisation of channels {bad} is not finite")
    return mean, spread
