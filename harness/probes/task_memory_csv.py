"""The per-task memory CSV: its columns, a reader, and per-prefix summaries.

The first three columns are exactly dask-memusage's (``task_key,min_memory_mb,max_memory_mb``,
MB meaning MiB as dask-memusage computes them), so anything that reads its CSV reads ours.
"""

from __future__ import annotations

import ast
import csv
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "COLUMNS", "MEMUSAGE_COLUMNS", "parse_task_key", "read_memusage_csv", "read_task_rows", "summarise_by_prefix",
    "worker_baseline",
]

MEMUSAGE_COLUMNS = ("task_key", "min_memory_mb", "max_memory_mb")
COLUMNS = (
    *MEMUSAGE_COLUMNS,
    "task_prefix", "worker", "start", "stop", "duration_s",
    "baseline_bytes", "peak_bytes", "peak_increase_bytes", "input_bytes", "output_bytes",
    "concurrent_tasks", "method", "state",
)
_INTEGER_COLUMNS = ("baseline_bytes", "peak_bytes", "peak_increase_bytes", "input_bytes", "output_bytes",
                    "concurrent_tasks")
_FLOAT_COLUMNS = ("min_memory_mb", "max_memory_mb", "start", "stop", "duration_s")
MIB = 1024 * 1024


def read_memusage_csv(path: str | Path) -> list[tuple[str, float | None, float | None]]:
    """(task_key, min MB, max MB) from a dask-memusage CSV or a memreplay one."""
    with open(path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header[:3]) != MEMUSAGE_COLUMNS:
            raise ValueError(f"{path}: not a dask-memusage CSV (header {header!r})")
        return [(row[0], _float(row[1]), _float(row[2])) for row in reader if row]


def read_task_rows(path: str | Path) -> list[dict[str, Any]]:
    """Every row of a memreplay per-task CSV, numbers parsed (empty cells become None)."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for column in _INTEGER_COLUMNS:
            row[column] = None if row[column] in ("", None) else int(row[column])
        for column in _FLOAT_COLUMNS:
            row[column] = _float(row[column])
    return rows


def parse_task_key(task_key: str) -> tuple[str, int | None]:
    """``"('sum-abc', 3)"`` → ``("sum-abc", 3)``; a plain string key → ``(key, None)``."""
    if task_key.startswith("("):
        try:
            parsed = ast.literal_eval(task_key)
        except (ValueError, SyntaxError):
            return task_key, None
        if isinstance(parsed, tuple) and parsed:
            index = parsed[-1] if len(parsed) > 1 and isinstance(parsed[-1], int) else None
            return str(parsed[0]), index
    return task_key, None


def _float(text: str | None) -> float | None:
    return None if text in ("", None) else float(text)


def worker_baseline(rows: Iterable[dict[str, Any]]) -> int | None:
    """A worker's own footprint: the lowest RSS it had at any task start (median over workers)."""
    lowest: dict[str, int] = {}
    for row in rows:
        if row["baseline_bytes"] is not None:
            lowest[row["worker"]] = min(lowest.get(row["worker"], row["baseline_bytes"]), row["baseline_bytes"])
    return int(np.median(list(lowest.values()))) if lowest else None


def summarise_by_prefix(rows: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per task prefix: task count, p50/p95/max peak increase (bytes) and the largest task."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["task_prefix"]].append(row)
    summary = {}
    for prefix, members in sorted(groups.items()):
        measured = [r for r in members if r["peak_increase_bytes"] is not None]
        increases = np.array([r["peak_increase_bytes"] for r in measured], dtype=np.int64)
        largest = max(measured, key=lambda r: r["peak_increase_bytes"], default=None)
        summary[prefix] = {
            "tasks": len(members),
            "measured": len(measured),
            "erred": sum(r["state"] == "erred" for r in members),
            "peak_increase_p50_bytes": int(np.percentile(increases, 50)) if len(increases) else None,
            "peak_increase_p95_bytes": int(np.percentile(increases, 95)) if len(increases) else None,
            "peak_increase_max_bytes": int(increases.max()) if len(increases) else None,
            "largest_task": None if largest is None else {
                "task_key": largest["task_key"],
                "peak_increase_bytes": largest["peak_increase_bytes"],
                "input_bytes": largest["input_bytes"],
                "worker": largest["worker"],
            },
        }
    return summary
