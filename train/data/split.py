"""Which subjects go to which split, and which source labels become which classes."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from train.data import hapt
from train.data.recording import DataError, Recording

if TYPE_CHECKING:
    from train.data.dataset import DataConfig

SPLITS = ("train", "validation", "test")


def split_subjects(subjects: list[str], config: DataConfig) -> dict[str, list[str]]:
    """Assign whole subjects to splits: explicit lists first, the rest chosen with the seed."""
    rng = np.random.default_rng(config.seed)
    everyone = sorted(set(subjects), key=lambda s: (len(s), s))
    test = config.test_subjects
    if test is None:
        test = list(hapt.UCI_HAR_TEST_SUBJECTS) if config.format == "hapt" else _pick(everyone, 0.2, rng)
    rest = [s for s in everyone if s not in test]
    validation = config.validation_subjects
    if validation is None:
        validation = list(hapt.VALIDATION_SUBJECTS) if config.format == "hapt" else _pick(rest, 0.15, rng)
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
        sources = list(hapt.DAILY_ACTIVITIES)
    else:
        sources = found
    for name in sources:
        if name not in found and not regression:
            raise DataError(str(config.path or hapt.EMBEDDED_HAPT), f"class '{name}' not in the labels found: {found}")
    mapping = {s: config.rename.get(s, s) for s in sources}
    return mapping, list(dict.fromkeys(mapping.values()))
