"""`--budget flash=20KB,arena=8KB,instructions=1M`: what a board allows, parsed once, checked per trial.

flash is the int8 .tflite as shipped (contract included), arena the TFLM tensor arena it needs, macs the
multiply-accumulates of one inference, instructions the Cortex-M4 instructions of one inference with
CMSIS-NN -Os measured under QEMU (firmware_gen). Bytes take B, KB/KiB (1024) or MB; counts take K or M.
"""
from __future__ import annotations

import re

COST_KEYS = {"flash": "flash_bytes", "arena": "arena_bytes", "macs": "macs", "instructions": "instructions",
             "params": "params"}
BYTE_KEYS = ("flash", "arena")
BYTE_UNITS = {"": 1, "B": 1, "KB": 1024, "KIB": 1024, "MB": 1024 ** 2, "MIB": 1024 ** 2}
COUNT_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def parse_budget(text: str) -> dict[str, int]:
    """{"flash": bytes, "arena": bytes, "instructions": count, ...} from KEY=VALUE[,KEY=VALUE]."""
    budget: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, _, value = part.partition("=")
        key = key.strip().lower()
        if key not in COST_KEYS or key in budget:
            raise ValueError(f"--budget '{part}': give each of {', '.join(COST_KEYS)} at most once, as KEY=VALUE")
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        units = BYTE_UNITS if key in BYTE_KEYS else COUNT_UNITS
        unit = match.group(2).upper() if match else None
        if match is None or unit not in units or float(match.group(1)) <= 0:
            raise ValueError(f"--budget '{part}': {key} takes a positive number with one of the units "
                             f"{', '.join(u for u in units if u) or 'none'} (e.g. flash=20KB, instructions=1M)")
        budget[key] = int(float(match.group(1)) * units[unit])
        if budget[key] < 1:
            raise ValueError(f"--budget '{part}': {key} rounds down to 0{' bytes' if key in BYTE_KEYS else ''}, "
                             "which no model fits")
    return budget


def over_budget(cost: dict, budget: dict[str, int]) -> list[str]:
    """One line per budget the measured cost exceeds (a cost not measured is not checked)."""
    return [f"{key} {cost[COST_KEYS[key]]:,} > {limit:,}" for key, limit in budget.items()
            if cost.get(COST_KEYS[key]) is not None and cost[COST_KEYS[key]] > limit]


def shown(budget: dict[str, int]) -> str:
    return ", ".join(f"{key} {value / 1024:g} KB" if key in BYTE_KEYS else f"{key} {value:,}"
                     for key, value in budget.items()) or "none"
