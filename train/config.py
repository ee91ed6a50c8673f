"""Run configuration: one TOML file with [data], [model] and [train] tables, overridable from the CLI.

A table's values are checked before anything is loaded or trained: their type (from the dataclass
annotation), finiteness and range, with a message naming the key (`checked`).
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import fields
from pathlib import Path

from device_runtime.contract_checks import MAX_WINDOW, is_number
from device_runtime.model_file import read_small_text

SECTIONS = ("data", "model", "train")
# Numbers that must be above zero, and fractions (at most 1); every other number must be at least zero.
POSITIVE = {"data.resample_hz", "data.min_purity"}  # a window of no activity at all has purity 0
FRACTIONS = {"data.min_purity"}
MIN_WINDOW = 8  # samples: the CNN halves the time axis three times
TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": list, "dict": dict, "None": type(None)}


def load_config(path: str | Path) -> dict:
    """Parse the TOML file; unknown tables are an error so a typo is not silently ignored."""
    path = Path(path)
    text = read_small_text(path)  # a FIFO, /dev/zero or a huge file is refused, not read for ever
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: {error}") from None
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a config file") from None
    unknown = set(config) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}; expected {list(SECTIONS)}")
    for section in SECTIONS:
        if not isinstance(config.get(section, {}), dict):
            raise ValueError(f"{path}: '{section}' must be a table ([{section}]), not {type(config[section]).__name__}")
    return {section: dict(config.get(section, {})) for section in SECTIONS}


def dump_config(config: dict, comment: str = "") -> str:
    """A resolved config ({"data": {...}, "model": {...}, "train": {...}}) as a TOML file that
    `load_config` reads back to the same values. None is left out: it is every such key's default."""
    lines = [f"# {line}" for line in comment.splitlines()]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml(value)}" for key, value in config.get(section, {}).items() if value is not None]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise ValueError(f"a config value {value!r} has no TOML form")


def known_keys_only(cls, data: dict, section: str) -> dict:
    """`data` unchanged if every key is a field of the dataclass `cls`; else an error naming the typo."""
    known = [f.name for f in fields(cls)]
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"[{section}] has unknown keys {sorted(unknown)}; known: {known}")
    return data


def checked(cls, data: dict, section: str) -> dict:
    """`data` unchanged if every key is a field of the dataclass `cls` and every value fits the field; else
    an error naming the key, what it holds and what it should hold."""
    types = {f.name: str(f.type) for f in fields(cls)}
    for key, value in known_keys_only(cls, data, section).items():
        _check_value(f"{section}.{key}", value, types[key])
    return data


def _check_value(key: str, value, annotation: str) -> None:
    allowed = [name.strip() for name in annotation.split("|")]
    if not any(_is(value, name) for name in allowed):
        raise ValueError(f"[{key.replace('.', '] ', 1)} = {value!r}: expected {annotation}")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if not is_number(value):
        raise ValueError(f"[{key.replace('.', '] ', 1)} = {str(value)[:40]}: must be a finite number")
    low_ok = value > 0 if key in POSITIVE else value >= 0
    if not low_ok or (key in FRACTIONS and value > 1):
        low = "above 0" if key in POSITIVE else "at least 0"
        bound = f"{low} and at most 1" if key in FRACTIONS else low
        raise ValueError(f"[{key.replace('.', '] ', 1)} = {value!r}: must be {bound}")


def _is(value, name: str) -> bool:
    """Whether `value` is of the annotation `name` (`int`, `list[str]`, `dict[str, str]`, ...)."""
    base, _, inner = name.partition("[")
    if base == "bool" or isinstance(value, bool):
        return base == "bool" and isinstance(value, bool)
    if not isinstance(value, TYPES.get(base, object)):
        return False
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return inner.rstrip("]").split(",")[-1].strip() != "str" or all(isinstance(v, str) for v in items)


def length(value: int | str, key: str, rate_hz: float | None = None) -> int | float:
    """A window or stride given as samples (`128`, `"128"`) or seconds (`"2.56s"`): the samples (an int)
    when seconds and `rate_hz` are known or samples are given, else the seconds (a float) to convert
    later. Zero, negative, non-finite or unreadable lengths are refused naming the option."""
    option = f"{key} (--{key})"
    text = str(value).strip()
    seconds = text.endswith("s")
    try:
        number = float(text[:-1]) if seconds else int(text) if not isinstance(value, float) else math.nan
    except ValueError:
        number = math.nan
    if "_" in text:  # Python's `1_28` is 128; a typo here should not pass as a length
        number = math.nan
    if isinstance(value, bool) or not is_number(number) or number <= 0:
        raise ValueError(f"{option}: {value!r} is not a positive number of samples (128) or seconds (2.56s)")
    if not seconds:
        samples = int(number)
    elif rate_hz is None:
        return number
    else:
        samples = round(number * rate_hz)
    least = MIN_WINDOW if key == "window" else 1
    if samples < least:
        at = f" at {rate_hz:g} Hz" if seconds else ""
        raise ValueError(f"{option}: {value!r} is {samples} samples{at}; at least {least} needed")
    if samples > MAX_WINDOW:  # what a contract may hold, and far beyond any recording's windows
        raise ValueError(f"{option}: {value!r} is {samples:,} samples; at most {MAX_WINDOW:,}")
    return samples
