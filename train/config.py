"""Run configuration: one TOML file with [data], [model] and [train] tables, overridable from the CLI."""
from __future__ import annotations

import tomllib
from pathlib import Path

SECTIONS = ("data", "model", "train")


def load_config(path: str | Path) -> dict:
    """Parse the TOML file; unknown tables are an error so a typo is not silently ignored."""
    path = Path(path)
    try:
        config = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: {error}") from None
    unknown = set(config) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}; expected {list(SECTIONS)}")
    return {section: dict(config.get(section, {})) for section in SECTIONS}


def known_keys_only(cls, data: dict, section: str) -> dict:
    """`data` unchanged if every key is a field of the dataclass `cls`; else an error naming the typo."""
    from dataclasses import fields

    known = [f.name for f in fields(cls)]
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"[{section}] has unknown keys {sorted(unknown)}; known: {known}")
    return data
