"""The one path from Python values to C source text.

Every value a template prints is a `CToken`: made here, after checking its type, range and finiteness
(numbers) or escaping every byte that could end a literal or a comment (strings). The template environment
refuses anything else, so a crafted contract or model file name cannot add code to the generated sources.
"""
from __future__ import annotations

import math
import numbers
import re

import numpy as np

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class CValueError(ValueError):
    """A value that cannot be written into C as asked (wrong type, out of range, not finite)."""


class CToken(str):
    """Text that is safe to paste into C: only the functions of this module make one."""


def c_int(value: object, name: str, low: int = INT_MIN, high: int = INT_MAX) -> CToken:
    """A decimal integer literal, after checking that `value` is an integer (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise CValueError(f"{name} must be an integer, not {type(value).__name__} {str(value)[:40]!r}")
    if not low <= int(value) <= high:
        raise CValueError(f"{name} = {int(value)} is outside [{low}, {high}]")
    return CToken(str(int(value)) if int(value) >= 0 else f"({int(value)})")  # a macro's minus stays its own


def c_float(value: object, name: str, positive: bool = False) -> CToken:
    """The float32 nearest to `value` as a literal a C compiler reads back exactly; finite (and > 0) only."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise CValueError(f"{name} must be a number, not {type(value).__name__} {str(value)[:40]!r}")
    with np.errstate(over="ignore"):
        single = np.float32(value)
    if not math.isfinite(float(value)) or not np.isfinite(single):
        raise CValueError(f"{name} = {value!r} is not a finite float32")
    if positive and not single > 0:
        raise CValueError(f"{name} = {value!r} must be greater than 0")
    text = f"{float(single):.9g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return CToken(text + "f")


def c_double(value: float, name: str) -> CToken:
    """A finite float64 as a double literal a C compiler reads back exactly (Python's repr round-trips)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise CValueError(f"{name} = {str(value)[:40]!r} is not a finite number")
    text = repr(float(value))
    return CToken(text if any(c in text for c in ".e") else text + ".0")


def c_string(text: object, name: str = "string") -> CToken:
    """A C string literal for any text: printable ASCII kept, everything else as 3-digit octal escapes
    (never hex, which would swallow following digits), quotes, backslashes and '?' (trigraphs) escaped."""
    if not isinstance(text, str):
        raise CValueError(f"{name} must be a string, not {type(text).__name__}")
    out = []
    for byte in text.encode("utf-8", "surrogateescape"):
        char = chr(byte)
        if char in '"\\?':
            out.append("\\" + char)
        elif 0x20 <= byte < 0x7F:
            out.append(char)
        else:
            out.append(f"\\{byte:03o}")
    return CToken('"' + "".join(out) + '"')


def c_identifier(text: object, name: str) -> CToken:
    if not isinstance(text, str) or not IDENTIFIER.match(text):
        raise CValueError(f"{name} '{str(text)[:40]}' is not a C identifier")
    return CToken(text)


def c_initializer(tokens: list[CToken]) -> CToken:
    """`{ a, b, c }` from tokens already made by this module."""
    if not all(isinstance(t, CToken) for t in tokens):
        raise CValueError("an initializer takes C tokens only")
    return CToken("{ " + ", ".join(tokens) + " }")


def c_bytes(data: bytes, per_row: int = 12) -> list[CToken]:
    """Rows of `0x..` byte literals."""
    return [CToken(", ".join(f"0x{b:02x}" for b in data[i : i + per_row])) for i in range(0, len(data), per_row)]


def only_tokens(value: object) -> object:
    """Template finalizer: a value reaches the output only if it is a CToken."""
    if isinstance(value, CToken):
        return value
    raise CValueError(f"template printed {type(value).__name__} {str(value)[:40]!r}, not a checked C token")
