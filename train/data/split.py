"""Which subjects go to which split, and which source labels become which classes."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from train.data import hapt
from train.data.recording import DataError, Recording

if TYPE_CHECKING:
    from train.data.dataset import DataConfig

SPLITS = ("train", "validation", "test")


def subject_key(subject: str) -> tuple[int, str]:
    """Shorter first, then alphabetically: numbers in numeric order ("2" before "10"), names by length too."""
    return len(subject), subject


def split_subjects(subjects: list[str], config: DataConfig, recorded: set[str] | None = None) -> dict[str, list[str]]:
    """Assign whole subjects to splits: explicit lists first, the rest chosen with the seed.

    `subjects` are those with windows; `recorded` (default: the same) those in the files, so that a named
    subject whose windows were all dropped is told apart from a typo."""
    everyone = sorted({str(s) for s in subjects}, key=subject_key)
    _check_named(config, set(everyone), recorded or set(everyone))
    rng = np.random.default_rng(config.seed)
    test = config.test_subjects
    if test is None:
        named = config.validation_subjects or []  # a subject named for validation is never drawn for test
        test = list(hapt.UCI_HAR_TEST_SUBJECTS) if config.format == "hapt" else \
            _pick([s for s in everyone if s not in named], 0.2, rng)
    rest = [s for s in everyone if s not in test]
    validation = config.validation_subjects
    if validation is None:
        validation = list(hapt.VALIDATION_SUBJECTS) if config.format == "hapt" else _pick(rest, 0.15, rng)
    splits = {
        "train": [s for s in rest if s not in validation],
        "validation": [s for s in everyone if s in validation and s not in test],
        "test": [s for s in everyone if s in test],
    }
    for name in SPLITS:
        if not splits[name] and not (name == "validation" and config.validation_subjects == []):
            raise DataError(_source(config), f"the {name} split has no subjects "
                            f"(subjects with windows: {' '.join(everyone)}); "
                            "choose them with --test-subjects / --validation-subjects")
    return splits


def split_rules(config: DataConfig) -> dict[str, str]:
    """How `split_subjects` chose each split's subjects, in words, for the summary."""
    seed = f"drawn at random with [data] seed {config.seed}"
    if config.test_subjects is not None:
        test = "given (--test-subjects or [data] test_subjects)"
    elif config.format == "hapt":
        test = "UCI HAR's test users, the HAPT default"
    else:
        test = f"20% of the subjects, {seed}"
    if config.validation_subjects == []:
        validation = "none (validation_subjects = []): every subject outside the test split trains"
    elif config.validation_subjects is not None:
        validation = "given (--validation-subjects or [data] validation_subjects)"
    elif config.format == "hapt":
        validation = "HAPT's default validation subjects"
    else:
        validation = f"15% of the subjects not in test, {seed}"
    return {"train": "every subject in no other split", "validation": validation, "test": test}


def _check_named(config: DataConfig, with_windows: set[str], recorded: set[str]) -> None:
    """Subjects named in the config must exist, have windows, and be in one split only."""
    named = {"test_subjects": config.test_subjects or [], "validation_subjects": config.validation_subjects or []}
    for key, subjects in named.items():
        option = f"{key} (--{key.replace('_', '-')})"
        unknown = [s for s in subjects if s not in recorded]
        if unknown:
            raise DataError(_source(config), f"{option} names {' '.join(unknown)}, not among the subjects found: "
                            f"{' '.join(sorted(recorded, key=subject_key))}")
        empty = [s for s in subjects if s not in with_windows]
        if empty:
            raise DataError(_source(config), f"{option} names {' '.join(empty)}, whose windows were all dropped "
                            "(see `har data summary`)")
    both = [s for s in named["test_subjects"] if s in named["validation_subjects"]]
    if both:
        raise DataError(_source(config), f"subject {' '.join(both)} is in both test_subjects and validation_subjects "
                        "(--test-subjects, --validation-subjects); a subject belongs to one split")


def _source(config: DataConfig) -> str:
    return str(config.path or hapt.EMBEDDED_HAPT)


def _pick(subjects: list[str], fraction: float, rng: np.random.Generator) -> list[str]:
    """A share of `subjects` (at least one, if there is one: an empty split is refused by the caller)."""
    if not subjects:
        return []
    n = max(1, round(fraction * len(subjects)))
    return sorted(rng.choice(subjects, size=n, replace=False).tolist(), key=subject_key)


def class_mapping(config: DataConfig, recordings: list[Recording], regression: bool = False,
                  absent_ok: bool = False) -> tuple[dict, list[str]]:
    """Source label -> class name for the selected labels (renames applied), and the ordered class names.
    A selected label the recordings lack is refused (a typo), unless `absent_ok` (some subjects' recordings:
    a class that only training subjects did is absent from the test subjects')."""
    found = sorted({n for r in recordings for n in r.label_names})
    if config.classes:
        sources = config.classes
    elif config.format == "hapt":
        sources = list(hapt.DAILY_ACTIVITIES)
    else:
        sources = found
    for name in sources:
        if name not in found and not (regression or absent_ok):
            raise DataError(_source(config), f"class '{name}' (--classes) not in the labels found: {found}")
    unknown = sorted(set(config.rename) - set(found) - set(sources))
    if unknown and not (regression or absent_ok):
        raise DataError(_source(config), f"[data] rename names {unknown}, not among the labels found: {found}")
    mapping = {s: config.rename.get(s, s) for s in sources}
    return mapping, list(dict.fromkeys(mapping.values()))
