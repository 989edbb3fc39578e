"""Markdown tables of benchmark rounds: medians per tool, each round's own
ratio of one tool to a reference, the goal and whether the median meets it."""

from __future__ import annotations

import operator
import statistics
from dataclasses import dataclass
from typing import Callable

Rounds = list[dict[str, dict[str, float]]]

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass
class Metric:
    """One row. ``unit``: MB/s (higher is better), s, ms, x, MB, or ``sent``
    (rsync's files sent + literal data, keys ``rsync_files`` and
    ``rsync_literal``). The goal is ``op goal`` on the subject's per-round
    ratio to the reference (``on="ratio"``, the median of those ratios) or on
    its own median value (``on="value"``; for ``sent`` its worst round)."""

    key: str
    label: str
    unit: str
    op: str | None = None
    goal: float | None = None
    on: str = "ratio"


def values(rounds: Rounds, tool: str, key: str) -> list[float]:
    return [r[tool][key] for r in rounds if key in r.get(tool, {})]


def per_round(rounds: Rounds, a: str, b: str, key: str) -> list[float]:
    """Returns: a's value / b's value in each round that has both."""
    return [r[a][key] / r[b][key] for r in rounds
            if key in r.get(a, {}) and key in r.get(b, {}) and r[b][key]]


def cell(m: Metric, rounds: Rounds, tool: str) -> str:
    if m.unit == "sent":
        files, literal = values(rounds, tool, "rsync_files"), values(rounds, tool, "rsync_literal")
        return f"{max(files):.0f} files, {max(literal):.0f} B" if files else "-"
    got = values(rounds, tool, m.key)
    if not got:
        return "-"
    v = statistics.median(got)
    return {"MB/s": f"{v:.0f} MB/s", "s": f"{v:.2f} s", "ms": f"{v:.1f} ms", "x": f"{v:.1f}x",
            "MB": f"{v:.0f} MB"}[m.unit]


def goal_text(m: Metric, ref: str) -> str:
    if m.op is None:
        return "-"
    if m.unit == "sent":
        return "0 files, 0 B"
    if m.on == "ratio":
        return f"{m.op} {m.goal:g}x {ref}" + ("" if m.unit == "MB/s" else "'s time")
    return f"{m.op} {m.goal:g}{'x' if m.unit == 'x' else ' ' + m.unit}"


def met(m: Metric, rounds: Rounds, subject: str, ref: str) -> str:
    if m.op is None:
        return ""
    assert m.goal is not None
    if m.unit == "sent":
        files, literal = (values(rounds, subject, k) for k in ("rsync_files", "rsync_literal"))
        if not files:
            return "not measured"
        return "met" if max(files) == 0 and max(literal) == 0 else "not met"
    got = (per_round(rounds, subject, ref, m.key) if m.on == "ratio"
           else values(rounds, subject, m.key))
    if not got:
        return "not measured"
    return "met" if OPS[m.op](statistics.median(got), m.goal) else "**not met**"


def ratio_cell(ratios: list[float]) -> str:
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.2f}x (" + ", ".join(f"{p:.2f}" for p in ratios) + ")"


def print_tables(metrics: list[Metric], rounds: Rounds, tools: list[str], subject: str, ref: str,
                 pairs: list[tuple[str, str]]) -> None:
    """Print the goals table (``subject`` against ``ref``), then the median
    per-round ratio of each pair (a, b) of tools."""
    rows = [m for m in metrics if any(cell(m, rounds, t) != "-" for t in tools)]
    print(f"| measurement | {' | '.join(tools)} | {subject} / {ref} (per round) | goal | |")
    print("|---|" + "---|" * len(tools) + "---|---|---|")
    for m in rows:
        ratios = [] if m.unit == "sent" else per_round(rounds, subject, ref, m.key)
        print(f"| {m.label} | " + " | ".join(cell(m, rounds, t) for t in tools)
              + f" | {ratio_cell(ratios)} | {goal_text(m, ref)} | {met(m, rounds, subject, ref)} |")
    print("\nRatios: MB/s rows divide speeds (more is faster), the others times or sizes "
          "(less is better); in parentheses each round's own.")
    pairs = [(a, b) for a, b in pairs if a in tools and b in tools]
    if not pairs:
        return
    print("\n| measurement | " + " | ".join(f"{a} / {b}" for a, b in pairs) + " |")
    print("|---|" + "---|" * len(pairs))
    for m in rows:
        if m.unit in ("sent", "MB"):
            continue
        cells = [ratio_cell(per_round(rounds, a, b, m.key)) for a, b in pairs]
        if any(c != "-" for c in cells):
            print(f"| {m.label} | " + " | ".join(cells) + " |")
