"""The regression gate's terminal table: every gated figure, base beside head, and the verdict."""

from __future__ import annotations

from collections.abc import Sequence

from dask.utils import format_bytes

from memreplay.analysis.regression import Comparison, GateRule, regressed
from memreplay.report.table import format_table
from memreplay.report.units import signed_bytes

__all__ = ["gate_text"]


def gate_text(base: str, head: str, rule: GateRule, comparisons: Sequence[Comparison], gated: str) -> str:
    """The regression gate's table: every gated figure, base beside head, and the verdict."""
    rows = [(*c.key, "-" if c.base is None else format_bytes(int(c.base)),
             "-" if c.head is None else format_bytes(int(c.head)),
             "-" if c.base is None or c.head is None else signed_bytes(int(c.head - c.base)),
             "-" if c.ratio is None else f"{c.ratio:.3f}", c.verdict) for c in comparisons]
    width = len(comparisons[0].key) if comparisons else 0
    headers = (*("workload", "shape")[:width], *("param",) * max(0, width - 2),
               f"base {base[:8]}", f"head {head[:8]}", "change", "ratio", "verdict")
    verdict = ("REGRESSED" if regressed(comparisons) else "passed")
    return (f"{gated}: worse by more than {rule.threshold:.0%} and by more than "
            f"{format_bytes(int(rule.floor))} fails\n{format_table(headers, rows)}\n"
            f"memory regression gate: {verdict}")
