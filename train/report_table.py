"""Markdown tables for the reports (evaluation, conversion, streaming): one writer instead of one per report."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence


def _cell(value: object) -> str:
    """A cell's text on one line, with pipes escaped so a class name cannot break the table."""
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_table(headers: Sequence[object], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table (no trailing newline); cells are already formatted text or numbers."""
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a table row has {len(row)} cells for {len(headers)} columns")
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def per_subject_lines(figures: dict[str, dict]) -> list[str]:
    """The per-subject section of a report: the worst subject first, then every subject's accuracy."""
    if not figures:
        return []
    worst = min(figures, key=lambda s: figures[s]["accuracy"])
    rows = [(s, f"{100 * f['accuracy']:.2f}%", f["windows"], confusion_text(f.get("confusions")))
            for s, f in figures.items()]
    return [f"Per subject: worst is subject {worst}, {100 * figures[worst]['accuracy']:.2f}% of "
            f"{figures[worst]['windows']} windows.", "",
            markdown_table(["subject", "accuracy", "windows", "most confused (true -> predicted: windows)"], rows), ""]


def confusion_text(confusions: list[dict] | None) -> str:
    if confusions is None:
        return "n/a"

    def name(text: str) -> str:  # class names are data: a backtick in one must not open a code span
        return text.replace("`", "\\`")

    return ", ".join(f"{name(c['true'])} -> {name(c['predicted'])}: {c['windows']}" for c in confusions) or "none"


def fenced(text: str) -> list[str]:
    """`text` as a Markdown code block whose fence no run of backticks in it (a class name's) can close."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]
