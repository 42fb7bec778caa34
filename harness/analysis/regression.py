"""The regression gate's rule, on figures already measured: a gated figure regressed when the
new commit's value is worse than the base's by more than the threshold (a ratio) *and* by more
than the floor (bytes). The ratio alone would fail a 2 MiB figure on probe noise; the floor
alone would miss a large relative change of a large figure. Reading asv's files is the gate's
business (``memreplay.trend.gate``); this module only compares."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = ["Comparison", "GateRule", "compare_figures", "judge", "regressed"]

Verdict = Literal["regressed", "worse, within the gate", "same", "better", "missing"]


@dataclass(frozen=True)
class GateRule:
    threshold: float  # 0.10: 10 % worse
    floor: float  # and worse by more than this, in the figure's unit (bytes for memory)


@dataclass(frozen=True)
class Comparison:
    key: tuple[str, ...]  # the benchmark's parameters, e.g. (workload, shape)
    base: float | None
    head: float | None
    verdict: Verdict

    @property
    def ratio(self) -> float | None:
        if self.base is None or self.head is None or self.base == 0:
            return None
        return self.head / self.base


def _measured(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def compare_figures(base: Mapping[tuple[str, ...], float | None], head: Mapping[tuple[str, ...], float | None],
                    rule: GateRule) -> list[Comparison]:
    """Every key of either side, in the base's order."""
    return [judge(key, base.get(key), head.get(key), rule) for key in dict.fromkeys([*base, *head])]


def judge(key: tuple[str, ...], base: float | None, head: float | None, rule: GateRule) -> Comparison:
    """One figure, base against head. Measured on one side only (or not a finite number), it
    is ``missing``: shown, never a pass or a failure by itself."""
    before, after = _measured(base), _measured(head)
    if before is None or after is None:
        verdict: Verdict = "missing"
    elif after - before > rule.floor and after > before * (1 + rule.threshold):
        verdict = "regressed"
    elif after > before:
        verdict = "worse, within the gate"
    elif after < before:
        verdict = "better"
    else:
        verdict = "same"
    return Comparison(key, before, after, verdict)


def regressed(comparisons: list[Comparison]) -> bool:
    return any(c.verdict == "regressed" for c in comparisons)
