"""From recordings on disk to normalised train/validation/test windows and the preprocessing contract."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from train import load_hapt
from train.config import known_keys_only
from device_runtime.contract import Contract
from train.load_csv import load_csv_folder
from train.load_pamap2 import load_pamap2
from train.load_wisdm import load_wisdm
from train.recording import DataError, LoadReport, Recording
from train.windows import Windows, cut_windows

REPO = Path(__file__).resolve().parent.parent
EMBEDDED_HAPT = REPO / "data" / "uci-hapt.tar.xz"
FORMATS = {"hapt": load_hapt.load_hapt, "csv": load_csv_folder, "wisdm": load_wisdm, "pamap2": load_pamap2}
SPLITS = ("train", "validation", "test")


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


def split_subjects(subjects: list[str], config: DataConfig) -> dict[str, list[str]]:
    """Assign whole subjects to splits: explicit lists first, the rest chosen with the seed."""
    rng = np.random.default_rng(config.seed)
    everyone = sorted(set(subjects), key=lambda s: (len(s), s))
    test = config.test_subjects
    if test is None:
        test = list(load_hapt.UCI_HAR_TEST_SUBJECTS) if config.format == "hapt" else _pick(everyone, 0.2, rng)
    rest = [s for s in everyone if s not in test]
    validation = config.validation_subjects
    if validation is None:
        validation = list(load_hapt.VALIDATION_SUBJECTS) if config.format == "hapt" else _pick(rest, 0.15, rng)
    train = [s for s in rest if s not in validation]
    splits = {"train": train, "validation": [s for s in validation if s in everyone], "test": [s for s in test if s in everyone]}
    for a in SPLITS:
        for b in SPLITS:
            assert a == b or not set(splits[a]) & set(splits[b]), f"subjects in both {a} and {b}"
    for name in SPLITS:
        if not splits[name]:
            raise DataError("dataset", f"the {name} split has no subjects (subjects found: {everyone})")
    return splits


def _pick(subjects: list[str], fraction: float, rng: np.random.Generator) -> list[str]:
    n = max(1, round(fraction * len(subjects)))
    return sorted(rng.choice(subjects, size=n, replace=False).tolist(), key=lambda s: (len(s), s))


def class_mapping(config: DataConfig, recordings: list[Recording], regression: bool = False) -> tuple[dict, list[str]]:
    """Source label -> class name for the selected labels (renames applied), and the ordered class names."""
    found = sorted({n for r in recordings for n in r.label_names})
    if config.classes:
        sources = config.classes
    elif config.format == "hapt":
        sources = list(load_hapt.DAILY_ACTIVITIES)
    else:
        sources = found
    for name in sources:
        if name not in found and not regression:
            raise DataError(str(config.path or EMBEDDED_HAPT), f"class '{name}' not in the labels found: {found}")
    mapping = {s: config.rename.get(s, s) for s in sources}
    return mapping, list(dict.fromkeys(mapping.values()))


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
    summary = _summarise(config, recordings, report, rates, drops, splits, assignment, contract)
    return Prepared(contract, splits, summary)


def _summarise(config, recordings, report, rates, drops, splits, assignment, contract) -> dict:
    classes = contract.class_names
    per_split = {}
    for name, split in splits.items():
        entry = {"windows": len(split), "subjects": assignment[name]}
        if contract.task == "classification":
            entry["per_class"] = {classes[i]: int(n) for i, n in enumerate(np.bincount(split.y, minlength=len(classes)))}
        entry["per_subject"] = dict(sorted(Counter(split.subjects.tolist()).items(), key=lambda kv: (len(kv[0]), kv[0])))
        per_split[name] = entry
    return {
        "data": str(config.path or EMBEDDED_HAPT),
        "format": config.format,
        "recordings": len(recordings),
        "subjects": len({r.subject for r in recordings}),
        "rows_read": report.rows_read,
        "rows_skipped": dict(report.rows_skipped),
        "skip_examples": report.examples,
        "notes": report.notes,
        "sample_rates_hz": rates,
        "window": contract.window,
        "stride": contract.stride,
        "windows_dropped": dict(drops),
        "splits": per_split,
        "config": asdict(config),
    }


def format_summary(summary: dict) -> str:
    """The summary as text for a terminal."""
    out = [
        f"data: {summary['data']} ({summary['format']})",
        f"{summary['recordings']} recordings, {summary['subjects']} subjects, {summary['rows_read']:,} rows read",
        f"sample rate found: {', '.join(f'{r:g}' for r in summary['sample_rates_hz'])} Hz; "
        f"window {summary['window']} samples, stride {summary['stride']}",
    ]
    out += [f"note: {n}" for n in summary["notes"][:20]]
    skipped = summary["rows_skipped"]
    out.append("rows skipped: " + (", ".join(f"{v:,} {k}" for k, v in skipped.items()) if skipped else "none"))
    out += [f"  e.g. {e}" for e in summary["skip_examples"][:5]]
    dropped = summary["windows_dropped"]
    out.append("windows dropped: " + (", ".join(f"{v:,} {k}" for k, v in dropped.items()) if dropped else "none"))
    for name, split in summary["splits"].items():
        out.append(f"\n{name}: {split['windows']:,} windows from subjects {' '.join(split['subjects'])}")
        if "per_class" in split:
            width = max(len(c) for c in split["per_class"])
            out += [f"  {c:<{width}} {n:6,}" for c, n in split["per_class"].items()]
        out.append("  per subject: " + ", ".join(f"{s}:{n}" for s, n in split["per_subject"].items()))
    return "\n".join(out)
