"""How peak memory grows with input size: a linear fit per task prefix, checked on a held-out
input (fit on the smaller inputs, predict the largest), and the goal that check is held to. A
size ladder's task duration is fitted on its input size the same way (one line fit for both)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from memreplay.records.schema import DurationModel, HeldOut, HeldOutDuration, PrefixModel, SizeLadder
from memreplay.records.task_rows import MIB, TaskRow

__all__ = ["GOAL_FLOOR_BYTES", "GOAL_PERCENT", "MIN_DISTINCT_INPUTS", "HeldOutLine", "duration_error_text",
           "fit_durations", "held_out_line",
           "fit_ladder_durations", "fit_peak_model", "fit_points", "grows", "heldout_error_text", "neighbours_cost",
           "ladder_duration_model", "meets_goal", "predict", "predict_duration"]

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


class HeldOutLine(NamedTuple):
    """A line over every point, and the largest input held out: predicted from a line over the
    smaller inputs, against the mean measured there."""

    points: int
    distinct_inputs: int
    slope: float
    intercept: float
    residual_std: float
    max_y: float
    heldout_input: int
    predicted: float
    measured: float
    error_percent: float | None  # of the prediction against the measured mean, to 0.1 %


def held_out_line(points: Sequence[tuple[int, float]]) -> HeldOutLine | None:
    """``y ≈ intercept + slope × x`` over (x, y) points, the largest x held out; None with fewer
    than MIN_DISTINCT_INPUTS distinct x. Both the memory and the duration models are this fit."""
    x = np.array([p[0] for p in points], dtype=np.float64)
    y = np.array([p[1] for p in points], dtype=np.float64)
    distinct = len(np.unique(x))
    if distinct < MIN_DISTINCT_INPUTS:
        return None
    slope, intercept = _fit(x, y)
    residual = y - (intercept + slope * x)
    largest = x.max()
    train = x < largest
    held_slope, held_intercept = _fit(x[train], y[train])
    predicted = held_intercept + held_slope * largest
    measured = float(y[x == largest].mean())
    return HeldOutLine(
        points=len(points), distinct_inputs=int(distinct), slope=slope, intercept=intercept,
        residual_std=float(residual.std()), max_y=float(y.max()), heldout_input=int(largest),
        predicted=float(predicted), measured=measured,
        error_percent=round(float(100 * (predicted - measured) / measured), 1) if measured else None)


def fit_points(group: str, points: Sequence[tuple[int, int]]) -> PrefixModel | None:
    """``peak_increase ≈ intercept + slope × input_bytes`` over (input bytes, peak increase)
    points, and the largest input held out: predicted from a fit on the smaller ones, against
    the mean measured there. None with fewer than three distinct inputs."""
    line = held_out_line(points)
    if line is None:
        return None
    return PrefixModel(
        group=group,
        points=line.points,
        distinct_inputs=line.distinct_inputs,
        slope=line.slope,  # bytes of peak increase per byte of input
        intercept_bytes=int(line.intercept),
        residual_std_bytes=int(line.residual_std),
        max_peak_increase_bytes=int(line.max_y),
        heldout=HeldOut(
            input_bytes=line.heldout_input,
            predicted_bytes=int(line.predicted),
            measured_bytes=int(line.measured),
            error_percent=line.error_percent,
        ),
    )


def fit_durations(points: Sequence[tuple[int, float]]) -> DurationModel | None:
    """``duration ≈ intercept + slope × input_bytes`` over (input bytes, seconds) points, the
    largest input held out as :func:`fit_points` holds it out. None with fewer than three
    distinct inputs."""
    line = held_out_line(points)
    if line is None:
        return None
    return DurationModel(
        points=line.points,
        distinct_inputs=line.distinct_inputs,
        seconds_per_byte=line.slope,
        intercept_s=line.intercept,
        residual_std_s=line.residual_std,
        max_duration_s=line.max_y,
        heldout=HeldOutDuration(
            input_bytes=line.heldout_input,
            predicted_s=line.predicted,
            measured_s=line.measured,
            error_percent=line.error_percent,
        ),
    )


def predict_duration(model: DurationModel, input_bytes: int) -> float:
    """The seconds the fit over every point expects one task to take at ``input_bytes`` (never
    below zero): alone in a fresh process, as the ladder measured it."""
    return max(0.0, model.intercept_s + model.seconds_per_byte * input_bytes)


def fit_ladder_durations(ladder: SizeLadder) -> tuple[DurationModel | None, list[float | None]]:
    """A size ladder's duration fit over every measured rung (a point per repeat), and each
    complete repeat's own held-out error: what ``SizeLadder.duration_model`` and
    ``duration_repeat_errors_percent`` hold."""
    measured = [rung for rung in ladder.rungs if rung.duration_s]
    model = fit_durations([(rung.input_bytes, seconds) for rung in measured for seconds in rung.duration_s])
    if model is None:
        return None, []
    complete = min(len(rung.duration_s) for rung in measured)
    errors = [repeat_model.heldout.error_percent for repeat in range(complete)
              if (repeat_model := fit_durations([(r.input_bytes, r.duration_s[repeat]) for r in measured]))]
    return model, errors


def ladder_duration_model(ladder: SizeLadder) -> DurationModel | None:
    """The ladder's duration model: the one recorded (schema 8), else fitted from its rungs'
    durations (a record written before schema 8), by the fit a ladder records."""
    if ladder.duration_model is not None:
        return ladder.duration_model
    return fit_ladder_durations(ladder)[0]


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


def duration_error_text(ladder: SizeLadder) -> str:
    """``+1.2 % (-0.8 … +3.8)``: the duration's held-out error (in brackets, each repeat's own),
    as :func:`heldout_error_text` gives the memory's; ``-`` without a duration model."""
    model = ladder_duration_model(ladder)
    if model is None or model.heldout.error_percent is None:
        return "-"
    errors = ladder.duration_repeat_errors_percent if ladder.duration_model is not None else (
        fit_ladder_durations(ladder)[1])
    spread = [e for e in errors if e is not None]
    text = f"{model.heldout.error_percent:+.1f} %"
    return text + (f" ({min(spread):+.1f} … {max(spread):+.1f})" if len(spread) > 1 else "")


def neighbours_cost(ladder: SizeLadder) -> tuple[float, tuple[float, float]] | None:
    """The ladder's largest input on every core at once against alone (at least 1: neighbours
    never make a task faster, whatever the noise), and its copies' spread around their median
    (low, high); None where it was not measured."""
    contended = ladder.contended
    alone = ladder.rungs[-1].duration_s if ladder.rungs else []
    if contended is None or not contended.duration_s or not alone or statistics.median(alone) <= 0:
        return None
    middle = statistics.median(contended.duration_s)
    if middle <= 0:  # a task too short for the clock: nothing to say of its neighbours
        return None
    return (max(1.0, middle / statistics.median(alone)),
            (min(contended.duration_s) / middle, max(contended.duration_s) / middle))
