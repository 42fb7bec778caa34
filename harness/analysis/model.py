"""How peak memory grows with input size: a linear fit per task prefix, checked on a held-out
input (fit on the smaller inputs, predict the largest), and the goal that check is held to."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from memreplay.records.schema import HeldOut, PrefixModel, SizeLadder
from memreplay.records.task_rows import MIB, TaskRow

__all__ = ["GOAL_FLOOR_BYTES", "GOAL_PERCENT", "MIN_DISTINCT_INPUTS", "fit_peak_model", "fit_points", "grows",
           "heldout_error_text", "meets_goal", "predict"]

MIN_DISTINCT_INPUTS = 3  # two to fit a line, one more to hold out
# The held-out goal: within 10 % for a prefix whose memory grows with its input; within
# max(2 MiB, 10 %) for one that does not, whose peak increase is mostly the allocator's own
# rounding (a few MiB), not its input.
GOAL_PERCENT = 10.0
GOAL_FLOOR_BYTES = 2 * MIB


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(np.unique(x)) < 2:
        return 0.0, float(y.mean())
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def fit_points(group: str, points: Sequence[tuple[int, int]]) -> PrefixModel | None:
    """``peak_increase ≈ intercept + slope × input_bytes`` over (input bytes, peak increase)
    points, and the largest input held out: predicted from a fit on the smaller ones, against
    the mean measured there. None with fewer than three distinct inputs."""
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([p[1] for p in points], dtype=np.float64)
    if len(np.unique(x)) < MIN_DISTINCT_INPUTS:
        return None
    slope, intercept = _fit(x, y)
    residual = y - (intercept + slope * x)
    largest = x.max()
    train = x < largest
    held_slope, held_intercept = _fit(x[train], y[train])
    predicted = held_intercept + held_slope * largest
    measured = float(y[x == largest].mean())
    return PrefixModel(
        group=group,
        points=len(points),
        distinct_inputs=int(len(np.unique(x))),
        slope=slope,  # bytes of peak increase per byte of input
        intercept_bytes=int(intercept),
        residual_std_bytes=int(residual.std()),
        max_peak_increase_bytes=int(y.max()),
        heldout=HeldOut(
            input_bytes=int(largest),
            predicted_bytes=int(predicted),
            measured_bytes=int(measured),
            error_percent=round(float(100 * (predicted - measured) / measured), 1) if measured else None,
        ),
    )


def fit_peak_model(rows: Iterable[TaskRow]) -> dict[str, PrefixModel]:
    """Per prefix, the fit of :func:`fit_points` over tasks that ran alone (no neighbour's memory
    in their peak increase), aliases left out. Should a prefix still hold several task groups,
    the group holding the largest peak increase is the one modelled."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        if row.alone and not row.alias and row.input_bytes and row.peak_increase_bytes is not None:
            groups[(row.task_prefix, row.group)].append((row.input_bytes, row.peak_increase_bytes))
    model: dict[str, PrefixModel] = {}
    for (prefix, group), points in sorted(groups.items()):
        fitted = fit_points(group, points)
        if fitted is None or (prefix in model
                              and model[prefix].max_peak_increase_bytes >= fitted.max_peak_increase_bytes):
            continue
        model[prefix] = fitted
    return model


def predict(model: PrefixModel, input_bytes: int) -> int:
    """The peak increase the fit over every point expects at ``input_bytes`` (never below zero)."""
    return max(0, round(model.intercept_bytes + model.slope * input_bytes))


def grows(smallest_input_peak: int, largest_input_peak: int) -> bool:
    """Whether a prefix's memory grows with its input: from its smallest to its largest input,
    its peak increase rose by more than the allocator's rounding (2 MiB)."""
    return largest_input_peak - smallest_input_peak > GOAL_FLOOR_BYTES


def meets_goal(held: HeldOut, growing: bool) -> bool:
    """Whether a held-out prediction is within the goal: 10 % for a prefix that grows with its
    input, max(2 MiB, 10 %) for one that does not."""
    miss = abs(held.predicted_bytes - held.measured_bytes)
    allowed = GOAL_PERCENT / 100 * held.measured_bytes
    return miss <= (allowed if growing else max(GOAL_FLOOR_BYTES, allowed))


def heldout_error_text(ladder: SizeLadder) -> str:
    """``+1.2 % (-0.8 … +3.8)`` for a prefix that grows with its input (in brackets, each
    repeat's own error); for one that does not, the error in MiB against the ±2 MiB goal, not a
    percentage of a tiny number."""
    model = ladder.model
    if model is None or model.heldout.error_percent is None:
        return "-"
    if not ladder.grows:
        miss = model.heldout.predicted_bytes - model.heldout.measured_bytes
        return f"{miss / MIB:+.1f} MiB (flat: goal ±2 MiB)"
    spread = [e for e in ladder.repeat_errors_percent if e is not None]
    text = f"{model.heldout.error_percent:+.1f} %"
    return text + (f" ({min(spread):+.1f} … {max(spread):+.1f})" if len(spread) > 1 else "")
