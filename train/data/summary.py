"""What `har data summary` shows: the window in samples and seconds, the channels and their units, counts per
split, class and subject, how each split's subjects were chosen, and every skip and drop with its reason."""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict

import numpy as np

from train.data.hapt import EMBEDDED_HAPT
from train.data.split import split_rules, subject_key


def summarise(config, recordings, report, rates, drops, splits, assignment, contract) -> dict:
    classes = contract.class_names
    rules = split_rules(config)
    per_split = {}
    for name, split in splits.items():
        entry = {"windows": len(split), "subjects": assignment[name], "chosen": rules[name]}
        if contract.task == "classification":
            counts = np.bincount(split.y, minlength=len(classes))
            entry["per_class"] = {classes[i]: int(n) for i, n in enumerate(counts)}
        per_subject = Counter(split.subjects.tolist())
        entry["per_subject"] = {s: per_subject[s] for s in sorted(per_subject, key=subject_key)}
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
        "warnings": report.warnings,
        "sample_rates_hz": rates,
        "window": contract.window,
        "stride": contract.stride,
        "window_seconds": round(contract.window / contract.sample_rate_hz, 4),
        "stride_seconds": round(contract.stride / contract.sample_rate_hz, 4),
        "units": dict(zip(contract.channels, contract.units)),  # channel -> unit ("": none given)
        "fine_motion": contract.fine_motion,  # extra model inputs, fitted on the training windows (None: none)
        "vertical": contract.vertical,  # the 2 inputs along and across gravity (None: none)
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
        f"window {summary['window']} samples ({summary['window_seconds']:g} s), "
        f"stride {summary['stride']} samples ({summary['stride_seconds']:g} s)",
        "channels: " + ", ".join(f"{c} [{u}]" if u else c for c, u in summary["units"].items()),
    ]
    fine = summary.get("fine_motion")
    if fine:
        units = summary["units"]
        out.append(f"fine motion (model inputs after the channels, clipped at {fine['limit']:g} of each scale): " + ", ".join(
            f"{c} scale {s:.3g}{' ' + units[c] if units.get(c) else ''}" for c, s in zip(fine["channels"], fine["scale"])))
    vertical = summary.get("vertical")
    if vertical:
        out.append(f"vertical (2 model inputs last): {'/'.join(vertical['channels'])} along its window mean, mean "
                   f"{vertical['mean'][0]:.3g} std {vertical['std'][0]:.3g}; across it, mean {vertical['mean'][1]:.3g} "
                   f"std {vertical['std'][1]:.3g}")
    if not all(summary["units"].values()):
        out.append("  (no unit given for some channels: declare them, e.g. --units acc=g,gyro=rad/s, so the "
                   "model says what to feed it)")
    out += [f"note: {n}" for n in summary["notes"][:20]]
    out += [f"warning: {w}" for w in summary["warnings"]]
    skipped = summary["rows_skipped"]
    out.append("rows skipped: " + (", ".join(f"{v:,} {k}" for k, v in skipped.items()) if skipped else "none"))
    out += [f"  e.g. {e}" for e in summary["skip_examples"][:5]]
    dropped = summary["windows_dropped"]
    out.append("windows dropped: " + (", ".join(f"{v:,} {k}" for k, v in dropped.items()) if dropped else "none"))
    for name, split in summary["splits"].items():
        if not split["subjects"]:
            out.append(f"\n{name}: {split['chosen']}")
            continue
        out.append(f"\n{name}: {split['windows']:,} windows from subjects {' '.join(split['subjects'])}")
        out.append(f"  subjects chosen: {split['chosen']}")
        if "per_class" in split:
            width = max(len(c) for c in split["per_class"])
            out += [f"  {c:<{width}} {n:6,}" for c, n in split["per_class"].items()]
        out.append("  per subject: " + ", ".join(f"{s}:{n}" for s, n in split["per_subject"].items()))
    return "\n".join(out)
