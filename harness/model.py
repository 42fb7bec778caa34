"""How peak memory grows with input size: a linear fit per task prefix, checked on a held-out
input (fit on the smaller inputs, predict the largest)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np

from harness.probes.task_memory_csv import parse_task_key

__all__ = ["fit_peak_model"]


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    if len(np.unique(x)) < 2:
        return 0.0, float(y.mean())
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def fit_peak_model(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per prefix, ``peak_increase ≈ intercept + slope × input_bytes`` from tasks that ran alone
    (``concurrent_tasks == 1``: no neighbour's memory in their peak). Within a prefix, dask may
    run several task groups (a fused task and its alias); the group holding the largest peak is
    the one modelled. Needs at least three distinct input sizes."""
    groups: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for row in rows:
        if row["concurrent_tasks"] == 1 and row["input_bytes"] and row["peak_increase_bytes"] is not None:
            groups[(row["task_prefix"], parse_task_key(row["task_key"])[0])].append(
                (row["input_bytes"], row["peak_increase_bytes"]))
    model: dict[str, dict[str, Any]] = {}
    for (prefix, group), points in groups.items():
        x = np.array([p[0] for p in points], dtype=np.float64)
        y = np.array([p[1] for p in points], dtype=np.float64)
        if len(np.unique(x)) < 3 or (prefix in model and model[prefix]["max_peak_bytes"] >= y.max()):
            continue
        slope, intercept = _fit(x, y)
        residual = y - (intercept + slope * x)
        largest = x.max()
        train = x < largest
        held_slope, held_intercept = _fit(x[train], y[train])
        predicted = held_intercept + held_slope * largest
        measured = float(y[x == largest].mean())
        model[prefix] = {
            "group": group,
            "points": len(points),
            "distinct_inputs": int(len(np.unique(x))),
            "slope": slope,  # bytes of peak per byte of input
            "intercept_bytes": int(intercept),
            "residual_std_bytes": int(residual.std()),
            "max_peak_bytes": int(y.max()),
            "heldout": {
                "input_bytes": int(largest),
                "predicted_bytes": int(predicted),
                "measured_bytes": int(measured),
                "error_percent": round(100 * (predicted - measured) / measured, 1) if measured else None,
            },
        }
    return model
