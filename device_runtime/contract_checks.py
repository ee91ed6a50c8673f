"""What makes a preprocessing contract valid: every check, in words naming the field, for
`Contract.__post_init__` (device_runtime/contract.py), the one place a contract is built. numpy-free.
"""
from __future__ import annotations

import math

CONTRACT_VERSION = 1
TASKS = ("classification", "regression")
QUANTIZATION_KEYS = ("input_scale", "input_zero_point", "output_scale", "output_zero_point")
TARGET_KEYS = ("unit", "scale", "offset")
FINE_MOTION_KEYS = ("channels", "scale", "limit")
VERTICAL_KEYS = ("channels", "mean", "std")
MAX_CHANNELS, MAX_CLASSES, MAX_WINDOW, MAX_NAME = 64, 256, 100_000, 64
MAX_OUTPUT, MAX_TARGET = 1e6, 1e30  # a regression output's reach in z-scores, and its value's in the target's unit
MAX_DEPTH = 32  # of lists and objects in `extra`


def is_number(value: object) -> bool:
    """A finite number, not a bool; an integer too large for a float (JSON may hold 400 digits) is none."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _depth(value: object, limit: int) -> bool:
    """Whether JSON lists and objects nest deeper than `limit` (counted without recursion: a crafted extra
    600 levels deep had been a RecursionError wherever the contract was copied or compared)."""
    level = [value]
    for _ in range(limit):
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x if isinstance(x, list) else ())]
        if not level:
            return False
    return True


def _names(values: object, what: str, limit: int, problems: list[str]) -> int:
    """Check a list of short strings; return its length (0 when it is not one)."""
    shortest = 0 if what == "units" else 1  # a unit may be unknown ("")
    if not isinstance(values, list) or not all(isinstance(v, str) and shortest <= len(v) <= MAX_NAME and v.isprintable()
                                               for v in values):  # not a lone surrogate (JSON's "\\ud800") either
        problems.append(f"{what} must be a list of names of {shortest}-{MAX_NAME} characters (printable UTF-8 "
                        "text: no newline, tab or escape, which would reach terminals and reports)")
        return 0
    if not 0 < len(values) <= limit:
        problems.append(f"{what} has {len(values)} entries (1-{limit} allowed)")
    if len(set(values)) != len(values) and what != "units":
        problems.append(f"{what} repeats a name")
    return len(values)


def contract_problems(c) -> list[str]:
    """Everything wrong with the contract, in words naming the field."""
    problems: list[str] = []
    if c.version != CONTRACT_VERSION:
        return [f"version {c.version!r}, this toolchain reads version {CONTRACT_VERSION}"]
    if not is_number(c.sample_rate_hz) or not 0.001 <= c.sample_rate_hz <= 100_000:
        problems.append("sample_rate_hz must be a number in [0.001, 100000]")
    n = _names(c.channels, "channels", MAX_CHANNELS, problems)
    if _names(c.units, "units", MAX_CHANNELS, problems) != n:
        problems.append(f"units must have one entry per channel ({n})")
    for name in ("norm_mean", "norm_std"):  # float32 on every device: 1e300 would be inf there, 1e-50 zero
        values = getattr(c, name)
        if not isinstance(values, list) or len(values) != n or not all(is_number(v) and abs(v) < 3.4e38 for v in values):
            problems.append(f"{name} must be {n} finite float32 numbers, one per channel")
    if isinstance(c.norm_std, list) and any(is_number(s) and not s > 1e-30 for s in c.norm_std):
        problems.append("norm_std must be positive float32 numbers (above 1e-30)")
    if not _is_int(c.window) or not 0 < c.window <= MAX_WINDOW:
        problems.append(f"window must be a whole number of samples in 1-{MAX_WINDOW}")
    if not _is_int(c.stride) or not 0 < c.stride <= MAX_WINDOW:
        problems.append(f"stride must be a whole number of samples in 1-{MAX_WINDOW}")
    if c.task not in TASKS:
        problems.append(f"task must be one of {list(TASKS)}")
    classes = _names(c.class_names, "class_names", MAX_CLASSES, problems)
    if c.task == "classification" and 0 < classes < 2:
        problems.append("a classifier needs at least two class names")
    if c.task == "regression" and classes > 1:
        problems.append("a regression model has one output: class_names names its target alone")
    if not is_number(c.min_purity) or not 0 < c.min_purity <= 1:
        problems.append("min_purity must be in (0, 1]")
    if not isinstance(c.allow_unlabelled, bool):
        problems.append("allow_unlabelled must be true or false")
    if not isinstance(c.extra, dict):
        problems.append("extra must be an object")
    elif _depth(c.extra, MAX_DEPTH):
        problems.append(f"extra nests deeper than {MAX_DEPTH} levels")
    if c.quantization is not None:
        problems += _quantization_problems(c.quantization)
        scale = c.quantization.get("output_scale") if isinstance(c.quantization, dict) else None
        if c.task == "regression" and is_number(scale) and not 256 * scale <= MAX_OUTPUT:
            problems.append(f"quantization.output_scale must keep a regression output within +-{MAX_OUTPUT:g}")
    if c.target is not None:
        problems += _target_problems(c.target, c.task)
    if c.fine_motion is not None:
        problems += _fine_motion_problems(c.fine_motion, c.channels if n else [])
    if c.vertical is not None:
        problems += _vertical_problems(c.vertical, c.channels if n else [])
    return problems


def _vertical_problems(v: object, channels: list[str]) -> list[str]:
    if not isinstance(v, dict) or set(v) != set(VERTICAL_KEYS):
        return [f"vertical must be null or an object with exactly {list(VERTICAL_KEYS)}"]
    names, mean, std = v["channels"], v["mean"], v["std"]
    problems = []
    if not isinstance(names, list) or len(names) != 3 or len(set(map(str, names))) != 3 or any(
            not isinstance(c, str) or c not in channels for c in names):
        problems.append("vertical.channels must be 3 distinct names from channels (an x, y, z triad)")
    if not isinstance(mean, list) or len(mean) != 2 or not all(is_number(m) and abs(m) < 3.4e38 for m in mean):
        problems.append("vertical.mean must be 2 finite float32 numbers (vertical, horizontal)")
    if not isinstance(std, list) or len(std) != 2 or not all(is_number(s) and 1e-30 < s < 3.4e38 for s in std):
        problems.append("vertical.std must be 2 positive finite float32 numbers (vertical, horizontal)")
    return problems


def _fine_motion_problems(f: object, channels: list[str]) -> list[str]:
    if not isinstance(f, dict) or set(f) != set(FINE_MOTION_KEYS):
        return [f"fine_motion must be null or an object with exactly {list(FINE_MOTION_KEYS)}"]
    names, scale, limit = f["channels"], f["scale"], f["limit"]
    if not isinstance(names, list) or not names or len(set(map(str, names))) != len(names) or any(
            not isinstance(v, str) or v not in channels for v in names):
        return ["fine_motion.channels must list distinct names from channels"]
    problems = []
    if not isinstance(scale, list) or len(scale) != len(names) or not all(is_number(v) and 1e-30 < v < 3.4e38 for v in scale):
        problems.append(f"fine_motion.scale must be {len(names)} positive finite float32 numbers, one per fine-motion channel")
    if not is_number(limit) or not 0 < limit <= 1e6:
        problems.append("fine_motion.limit must be a number in (0, 1000000]")
    return problems


def _target_problems(t: object, task: str) -> list[str]:
    if task != "regression":
        return ["target is for regression models only (null for a classifier)"]
    if not isinstance(t, dict) or set(t) != set(TARGET_KEYS):
        return [f"target must be null or an object with exactly {list(TARGET_KEYS)}"]
    problems = []
    if not isinstance(t["unit"], str) or len(t["unit"]) > MAX_NAME or not t["unit"].isprintable():
        problems.append(f"target.unit must be a name of 0-{MAX_NAME} printable characters")
    if not is_number(t["scale"]) or not 0 < t["scale"] < 3.4e38:
        problems.append("target.scale must be a positive finite float32 number")
    if not is_number(t["offset"]) or not abs(t["offset"]) < 3.4e38:
        problems.append("target.offset must be a finite float32 number")
    if not problems and not t["scale"] * MAX_OUTPUT + abs(t["offset"]) < MAX_TARGET:
        problems.append(f"target.scale and target.offset must keep every value within +-{MAX_TARGET:g} (the model's "
                        f"output, up to +-{MAX_OUTPUT:g} z-scores, times scale plus offset: beyond, float32 arithmetic "
                        "overflows to inf, which no JSON report holds)")
    return problems


def _quantization_problems(q: object) -> list[str]:
    if not isinstance(q, dict) or set(q) != set(QUANTIZATION_KEYS):
        return [f"quantization must be null or an object with exactly {list(QUANTIZATION_KEYS)}"]
    problems = []
    for side in ("input", "output"):
        scale, zero = q[f"{side}_scale"], q[f"{side}_zero_point"]
        if not is_number(scale) or not 1e-30 < scale < 3.4e38:
            problems.append(f"quantization.{side}_scale must be a positive finite float32 number")
        if not _is_int(zero) or not -128 <= zero <= 127:
            problems.append(f"quantization.{side}_zero_point must be a whole number in -128..127")
    return problems
