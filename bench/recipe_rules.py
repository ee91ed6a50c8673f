"""The rules that turn the recipe study's CV figures into a choice, applied from the figures themselves so
that BENCHMARKS' verdicts can never drift from its tables.

A recipe replaces the default of its round if its CV macro-F1 is higher, or if it is within one standard
deviation of the default's and clearly less sensitive to sensor errors (a mean worst sensor-error drop lower
by more than the larger of the two spreads). From PAIRED_FROM's round on, "higher" means more than seed noise:
the mean of the paired (fold, seed) macro-F1 differences against the default above twice its standard error.
That rule was fixed before that round's figures were read; a gain of +0.0010 at a standard error of 0.0014
had been adopted by the plain rule and did not carry to the test subjects.
"""
from __future__ import annotations

import math
import statistics

PAIRED_FROM = "the postures at 15°"  # the first round judged by the paired rule


def same_machine(base: dict, candidate: dict) -> tuple[dict, dict]:
    """The default's and the candidate's figures from one machine where either was also measured on the
    other's (its `earlier` figures): retrained on another CPU, a run moves by up to 0.003 in macro-F1."""
    for pair in ((base, candidate), (base.get("earlier"), candidate), (base, candidate.get("earlier"))):
        if pair[0] and pair[1] and pair[0].get("machine") == pair[1].get("machine"):
            return pair
    return base, candidate


def paired_gain(base: dict, candidate: dict) -> tuple[float, float] | None:
    """Mean and standard error of the candidate's macro-F1 minus the default's over the (fold, seed) runs both
    have (figures from one machine: `same_machine`); None where fewer than 2 pairs (a study stored before
    per-run figures were)."""
    shared = sorted(set(base.get("runs", {})) & set(candidate.get("runs", {})))
    if len(shared) < 2:
        return None
    diffs = [candidate["runs"][k] - base["runs"][k] for k in shared]
    return statistics.mean(diffs), statistics.stdev(diffs) / math.sqrt(len(diffs))


def variants(results: dict) -> str:
    """One sentence per round: each recipe scored against the default of its time, with the rules' verdict."""
    replaced = {r["against"] for r in results["rounds"]}
    sentences = []
    for r in results["rounds"]:
        verdicts = [f"{label}: {_verdict(results, r, label, replaced)}" for label in r["scored"]]
        if verdicts:
            sentences.append(f"Scored against {r['name']}: " + "; ".join(verdicts) + ".")
    return " ".join(sentences)


def _higher(results: dict, r: dict, label: str) -> tuple[bool, str]:
    """Whether the candidate's macro-F1 beats the default's under the round's rule, and in words."""
    base, cand = same_machine(results["candidates"][r["against"]], results["candidates"][label])
    f1, mine = round(base["mean"]["macro_f1"], 4), round(cand["mean"]["macro_f1"], 4)
    gain = paired_gain(base, cand) if r.get("paired") else None
    if gain is None:
        return mine > f1, ("higher" if mine > f1 else "lower" if mine < f1 else "the same") + " macro-F1"
    mean, se = gain
    words = f"(paired gain {mean:+.4f}, standard error {se:.4f})"
    if mean > 2 * se:
        return True, f"higher macro-F1 {words}"
    return False, f"lower macro-F1 {words}" if mean < 0 else f"macro-F1 not above seed noise {words}"


def _verdict(results: dict, r: dict, label: str, replaced: set[str]) -> str:
    base, cand = same_machine(results["candidates"][r["against"]], results["candidates"][label])
    m, s = cand["mean"], cand["std"]
    f1, spread, drop = base["mean"]["macro_f1"], base["std"]["macro_f1"], base["mean"]["worst_drop_points"]
    sturdier = drop - m["worst_drop_points"] > max(base["std"]["worst_drop_points"], s["worst_drop_points"])
    higher, words = _higher(results, r, label)
    if not (higher or (f1 - m["macro_f1"] <= spread and sturdier)):
        return f"{words}, not clearly sturdier"
    why = words if higher else "within the spread, clearly less hurt by sensor errors"
    over = results.get("over_budget", {})
    if label in over:
        return f"qualifies under the rules ({why}), not adopted: over the firmware budget, {over[label]}"
    if label == results["chosen"]:
        return f"qualifies under the rules ({why}): adopted"
    if label in replaced:
        return f"qualifies under the rules ({why}): adopted, and replaced since by the next round's"
    if r["against"] == results["chosen"]:
        return f"qualifies under the rules ({why}), not adopted yet: its test seeds and a full `make bench` come first"
    return f"qualifies under the rules ({why}), not adopted: another recipe was"
