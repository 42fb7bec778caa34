"""Per-task rows summarised: the worker footprint, per-prefix percentiles, and the one
definition of "the largest task" (the highest peak increase; where it matters, among tasks
that ran alone in their worker, since a row with neighbours may hold their memory too)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from memreplay.records.schema import DeadTask, LargestTask, PrefixSummary, TaskMemory
from memreplay.records.task_rows import TaskRow

__all__ = ["case_largest_peak_increase", "largest_by_prefix", "largest_prefix", "largest_task", "prefix_peak_increase",
           "summarise_task_memory", "worker_footprint"]


def largest_task(rows: Iterable[TaskRow], *, alone_only: bool = False) -> TaskRow | None:
    """The row with the highest peak increase (only tasks alone in their worker with
    ``alone_only``); an alias, which runs no code, is never it."""
    measured = [row for row in rows if row.peak_increase_bytes is not None and not row.alias
                and (row.alone or not alone_only)]
    return max(measured, key=lambda row: row.peak_increase_bytes or 0, default=None)


def largest_by_prefix(rows: Iterable[TaskRow], *, alone_only: bool = False) -> dict[str, TaskRow]:
    groups: dict[str, list[TaskRow]] = defaultdict(list)
    for row in rows:
        if not row.alias:
            groups[row.task_prefix].append(row)
    largest = {prefix: largest_task(members, alone_only=alone_only) for prefix, members in groups.items()}
    return {prefix: row for prefix, row in sorted(largest.items()) if row is not None}


def prefix_peak_increase(summary: PrefixSummary, *, alone_only: bool = False) -> int | None:
    """The same rule over a stored summary: a prefix's largest peak increase, measured alone in
    its worker wherever any of its tasks ran alone, else (unless ``alone_only``) with neighbours."""
    if summary.peak_increase_max_alone_bytes is not None or alone_only:
        return summary.peak_increase_max_alone_bytes
    return summary.peak_increase_max_bytes


def largest_prefix(task_memory: TaskMemory | None, *, alone_only: bool = False) -> tuple[str, int] | None:
    """The prefix of a case whose largest task needed the most memory, and that peak increase."""
    measured = [(prefix, peak) for prefix, summary in (task_memory.by_prefix if task_memory else {}).items()
                if (peak := prefix_peak_increase(summary, alone_only=alone_only)) is not None]
    return max(measured, key=lambda item: item[1], default=None)


def case_largest_peak_increase(task_memory: TaskMemory | None, threads_per_worker: int) -> int | None:
    """A case's largest task: at one thread per worker every task ran alone, so its own peak
    increase; at more threads the largest with its neighbours, an upper bound (alone-only would
    keep only the tasks that ran alone by chance)."""
    if threads_per_worker == 1:
        largest = largest_prefix(task_memory, alone_only=True)
        return None if largest is None else largest[1]
    return max((s.peak_increase_max_bytes for s in (task_memory.by_prefix if task_memory else {}).values()
                if s.peak_increase_max_bytes is not None), default=None)


def worker_footprint(rows: Iterable[TaskRow]) -> int | None:
    """What a worker holds before it runs anything: the lowest RSS it had at any task start
    (the median over workers)."""
    lowest: dict[str, int] = {}
    for row in rows:
        if row.baseline_bytes is not None:
            lowest[row.worker] = min(lowest.get(row.worker, row.baseline_bytes), row.baseline_bytes)
    return int(np.median(list(lowest.values()))) if lowest else None


def _summarise_prefix(members: list[TaskRow]) -> PrefixSummary:
    increases = np.array([r.peak_increase_bytes for r in members if r.peak_increase_bytes is not None],
                         dtype=np.int64)
    largest, alone = largest_task(members), largest_task(members, alone_only=True)
    return PrefixSummary(
        tasks=len(members),
        measured=len(increases),
        erred=sum(r.state == "erred" for r in members),
        peak_increase_p50_bytes=int(np.percentile(increases, 50)) if len(increases) else None,
        peak_increase_p95_bytes=int(np.percentile(increases, 95)) if len(increases) else None,
        peak_increase_max_bytes=int(increases.max()) if len(increases) else None,
        peak_increase_max_alone_bytes=None if alone is None else alone.peak_increase_bytes,
        largest_task=None if largest is None else LargestTask(
            task_key=largest.task_key, peak_increase_bytes=largest.peak_increase_bytes or 0,
            input_bytes=largest.input_bytes, worker=largest.worker),
    )


def summarise_task_memory(rows: list[TaskRow], csv_name: str) -> TaskMemory:
    """What a case record keeps of its ``tasks.csv``. Aliases (which run no code) are counted
    but kept out of the per-prefix summary, so each file's task counts once."""
    groups: dict[str, list[TaskRow]] = defaultdict(list)
    for row in rows:
        if not row.alias:
            groups[row.task_prefix].append(row)
    return TaskMemory(
        csv=csv_name,
        rows=len(rows),
        alias_rows=sum(row.alias for row in rows),
        methods=sorted({row.method for row in rows}),
        worker_footprint_bytes=worker_footprint(rows),
        worker_died=[DeadTask(task_key=r.task_key, task_prefix=r.task_prefix, worker=r.worker,
                              baseline_bytes=r.baseline_bytes, peak_bytes=r.peak_bytes)
                     for r in rows if r.state == "worker-died"],
        by_prefix={prefix: _summarise_prefix(members) for prefix, members in sorted(groups.items())},
    )
