"""How peak memory grows with input size: a linear fit per task prefix, checked on a held-out
input (fit on the smaller inputs, predict the largest)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from harness.records.schema import HeldOut, PrefixModel
from harness.records.task_rows import TaskRow

__all__ = ["MIN_DISTINCT_INPUTS", "fit_peak_model"]

MIN_DISTINCT_INPUTS = 3  # two to fit a line, one more to hold out


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(np.unique(x)) < 2:
        return 0.0, float(y.mean())
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def fit_peak_model(rows: Iterable[TaskRow]) -> dict[str, PrefixModel]:
    """Per prefix, ``peak_increase ≈ intercept + slope × input_bytes`` from tasks that ran alone
    (no neighbour's memory in their peak increase), aliases left out. Should a prefix still hold
    several task groups, the group holding the largest peak increase is the one modelled. A
    prefix needs at least three distinct input sizes."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        if row.alone and not row.alias and row.input_bytes and row.peak_increase_bytes is not None:
            groups[(row.task_prefix, row.group)].append((row.input_bytes, row.peak_increase_bytes))
    model: dict[str, PrefixModel] = {}
    for (prefix, group), points in sorted(groups.items()):
        x = np.array([p[0] for p in points], dtype=np.float64)
        y = np.array([p[1] for p in points], dtype=np.float64)
        if len(np.unique(x)) < MIN_DISTINCT_INPUTS or (
                prefix in model and model[prefix].max_peak_increase_bytes >= y.max()):
            continue
        slope, intercept = _fit(x, y)
        residual = y - (intercept + slope * x)
        largest = x.max()
        train = x < largest
        held_slope, held_intercept = _fit(x[train], y[train])
        predicted = held_intercept + held_slope * largest
        measured = float(y[x == largest].mean())
        model[prefix] = PrefixModel(
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
    return model
