"""Channel units: declared for headers that carry none (`--units gyro=deg/s`), checked to agree with the
headers that do and across a dataset's files. A model trained in deg/s and fed rad/s classifies every
window wrongly and says nothing, so the contract must say which units it takes, and say it truly.
"""
from __future__ import annotations

import dataclasses

from device_runtime.line_parser import UNIT_SPELLINGS, same_unit
from train.data.recording import DataError, Recording

# Units a warning does not question (other spellings of these, as the runtime reads them, included).
KNOWN_UNITS = {"g", "mg", "m/s^2", "rad/s", "deg/s", "uT", "mT", "gauss", "hPa", "Pa", "m", "degC", "bpm"}
KNOWN_UNITS |= set(UNIT_SPELLINGS)


def parse_units(text: str) -> dict[str, str]:
    """`gyro=deg/s,acc_x=g` (the --units option) -> {"gyro": "deg/s", "acc_x": "g"}."""
    declared = {}
    for item in filter(None, (i.strip() for i in text.split(","))):
        name, equals, unit = (part.strip() for part in item.partition("="))
        if not equals or not name or not unit:
            raise ValueError(f"--units: '{item}' is not NAME=UNIT (e.g. --units gyro=deg/s,acc=g)")
        if declared.get(name, unit) != unit:
            raise ValueError(f"--units: {name} is declared twice, as {declared[name]} and {unit}")
        declared[name] = unit
    return declared


def declared_unit(channel: str, declared: dict[str, str]) -> str:
    """The unit declared for `channel`: by its own name, else by the longest sensor prefix
    (`gyro` declares `gyro_x`; `hand_acc` declares `hand_acc_x`); "" if none."""
    keys = [k for k in declared if channel == k or channel.startswith(k + "_")]
    return declared[max(keys, key=len)] if keys else ""


def apply_units(
    recordings: list[Recording], declared: dict[str, str], source: str
) -> tuple[list[Recording], list[str]]:
    """The recordings with declared units filled in where their files gave none, and a warning for each
    unknown unit (kept as written). Refused: a declaration naming no channel, one that disagrees with a
    file's header, and files that disagree with each other."""
    channels = {c for r in recordings for c in r.channels}
    unused = [k for k in declared if not any(declared_unit(c, {k: declared[k]}) for c in channels)]
    if unused:
        raise DataError(source, f"units (--units) names {unused}, which is no channel or channel prefix of "
                        f"{sorted(channels)}")
    recordings = [_declare(r, declared) for r in recordings]
    _check_files_agree(recordings)
    unknown: dict[str, list[str]] = {}  # unit -> its channels (one unit per channel once the files agree)
    for channel, unit in {c: u for r in recordings for c, u in zip(r.channels, r.units)}.items():
        if unit and unit not in KNOWN_UNITS:
            unknown.setdefault(unit, []).append(channel)
    return recordings, [f"unit '{unit}' (channels {' '.join(names)}) is not one of the known units "
                        f"{' '.join(sorted(KNOWN_UNITS))}: a typo? it is kept as written"
                        for unit, names in unknown.items()]


def _declare(recording: Recording, declared: dict[str, str]) -> Recording:
    units = []
    for channel, unit in zip(recording.channels, recording.units):
        wanted = declared_unit(channel, declared)
        if unit and wanted and not same_unit(unit, wanted):
            raise DataError(recording.source, f"channel {channel} is in {unit} in this file but units "
                            f"(--units) declares {wanted}; remove the declaration or correct it")
        units.append(unit or wanted)
    if tuple(units) == recording.units:
        return recording
    return dataclasses.replace(recording, units=tuple(units))


def _check_files_agree(recordings: list[Recording]) -> None:
    """Every file gives each channel in the same unit (a file without a unit disagrees with one with)."""
    first: dict[str, tuple[str, str]] = {}
    for rec in recordings:
        for channel, unit in zip(rec.channels, rec.units):
            source, seen = first.setdefault(channel, (rec.source, unit))
            if not same_unit(seen, unit):
                raise DataError(rec.source, f"channel {channel} is in {unit or 'no unit'} here but in "
                                f"{seen or 'no unit'} in {source}; a dataset's files must share units "
                                "(convert one, or declare missing units with --units)")

