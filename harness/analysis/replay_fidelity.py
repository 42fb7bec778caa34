"""How closely a replay reproduced its recording:
- per-task peak increases within the probe's accuracy (plus, where data arrived from other
  workers while the task ran, in either run, that data's bytes), for the tasks that ran alone
  in their worker in the replay;
- the span of the tasks within 15 %, on the same configuration;
- the same out-of-memory outcome.
The trace is streamed; the replay's rows are matched by key hash."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from memreplay.analysis.probe_accuracy import tolerance_bytes
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.records.schema import ReplayFidelity
from memreplay.records.task_rows import TaskRow
from memreplay.workloads.trace import index_trace, iter_tasks

__all__ = ["PEAKS_GOAL_SHARE", "SPAN_GOAL_PERCENT", "replay_fidelity"]

SPAN_GOAL_PERCENT = 15.0
# The probe measures a worker process, whose event loop now and then allocates a few MiB of its
# own; in a pipeline a few of those land on tasks that allocate nothing, in the recording and
# the replay at different moments. The peaks hold when this share of the tasks is within.
PEAKS_GOAL_SHARE = 0.95


def replay_fidelity(trace: Path, rows: Iterable[TaskRow], config: ClusterConfig, outcome: str,
                    spilled_written_bytes: int | None = None) -> ReplayFidelity:
    """``rows``: the replay case's tasks.csv; ``config`` and ``outcome``: the case's;
    ``spilled_written_bytes``: what its workers wrote to their spill files."""
    index = index_trace(trace)
    replayed = {row.task_key.rsplit("-", 1)[-1]: row for row in rows if row.state == "memory" and not row.alias}
    tasks = compared = within = 0
    worst: int | None = None
    for task in iter_tasks(trace):
        if task.state != "memory":  # killed while it ran: no finished figure to compare
            continue
        tasks += 1
        row = replayed.get(task.id)
        # with neighbours in its worker, a task's peak increase holds theirs too: compare it alone
        if row is None or row.peak_increase_bytes is None or not row.alone:
            continue
        error = row.peak_increase_bytes - task.peak_increase_bytes
        compared += 1
        # data that arrived from other workers while a task ran is in its peak increase, in the
        # recording and the replay alike, at different moments: allowed for, beyond the accuracy
        allowed = tolerance_bytes(task.peak_increase_bytes) + max(task.arrived_bytes, row.arrived_bytes or 0)
        within += abs(error) <= allowed
        worst = error if worst is None or abs(error) > abs(worst) else worst
    timed = [row for row in replayed.values() if row.start is not None and row.stop is not None]
    span = (max(r.stop for r in timed) - min(r.start for r in timed)) if timed else None  # type: ignore[type-var]
    shape = index.header.cluster
    same = shape is not None and (shape.n_workers, shape.threads_per_worker, shape.memory_limit) == (
        config.n_workers, config.threads_per_worker, config.memory_limit)
    span_error = (None if span is None or not index.end.span_s
                  else round(100 * (span - index.end.span_s) / index.end.span_s, 1))
    return ReplayFidelity(
        trace=str(trace), tasks=tasks, compared=compared, within_tolerance=within, worst_error_bytes=worst,
        peaks_ok=None if not compared else within >= PEAKS_GOAL_SHARE * compared,
        span_trace_s=index.end.span_s, span_replay_s=span, span_error_percent=span_error, same_configuration=same,
        span_ok=(span_error is not None and abs(span_error) <= SPAN_GOAL_PERCENT) if same else None,
        outcome_trace=index.end.outcome, outcome_replay=outcome,
        outcome_ok=(index.end.outcome == "oom") == (outcome == "oom"),
        # spilled: the bytes written to spill files, shown beside each other (a trace of version 1 has none)
        spilled_trace_bytes=index.end.spilled_written_bytes if index.end.memory else None,
        spilled_replay_bytes=spilled_written_bytes,
    )
