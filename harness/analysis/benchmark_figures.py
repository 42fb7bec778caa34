"""The figures asv tracks, read from run records: per case (workload × shape), the largest
peak increase of a task (alone in its worker at one thread per worker, which CI gates on;
with its neighbours, an upper bound, at more threads), the worker footprint, the peak
RSS of a worker process and the wall time; per workload, Fil's peak; per scheduler preset, the
scheduler's RSS and the bytes its bounded structures hold."""

from __future__ import annotations

from collections.abc import Iterable

from memreplay.analysis.task_summary import case_largest_peak_increase
from memreplay.records.schema import CaseResult, SchedulerRecord, SweepRecord, TaskProfile
from memreplay.records.timeline_samples import SCHEDULER

__all__ = ["case_figures", "figures_of_case", "profile_figures", "scheduler_figures"]

Figures = dict[str, float | None]


def figures_of_case(case: CaseResult) -> Figures | None:
    """The memory and time figures of one case that finished ``ok`` (a memory figure the probes
    did not measure is None); None for a case that did not finish."""
    if case.outcome != "ok":
        return None
    memory = case.task_memory
    workers = {name: peak for name, peak in (case.timeline.peak_rss_bytes if case.timeline else {}).items()
               if name != SCHEDULER}
    return {
        "largest_peak_increase_bytes": case_largest_peak_increase(memory, case.config.threads_per_worker),
        "worker_footprint_bytes": None if memory is None else memory.worker_footprint_bytes,
        "worker_peak_rss_bytes": max(workers.values(), default=None),
        # Dask's memory manager (None before schema 7)
        "spilled_bytes": None if case.memory_manager is None else case.memory_manager.spilled_peak_bytes,
        "paused_s": None if case.memory_manager is None else case.memory_manager.paused_s,
        "wall_time_s": case.wall_time_s,
        "cost_gib_s": case.cost_gib_s,
    }


def case_figures(record: SweepRecord) -> dict[tuple[str, str], Figures]:
    """By (workload, ``WxT`` shape), from the cases that finished ``ok`` (the last repeat wins)."""
    figures: dict[tuple[str, str], Figures] = {}
    for case in record.cases:
        measured = figures_of_case(case)
        if measured is not None:
            figures[(case.workload.name, case.config.shape)] = measured
    return figures


def profile_figures(profiles: Iterable[TaskProfile]) -> dict[str, float | None]:
    """Fil's peak tracked allocations by workload (of a profile run, or of a sweep's summary)."""
    return {profile.workload: profile.peak_tracked_bytes for profile in profiles}


def scheduler_figures(record: SchedulerRecord) -> dict[str, Figures]:
    """By preset label (``default``, ``trimmed``): the scheduler's RSS at the end and the bytes
    its bounded structures hold."""
    return {scenario.label: {"rss_bytes": scenario.rss_end_bytes,
                             "structure_bytes": sum(s.bytes for s in scenario.structures.values())}
            for scenario in record.scenarios if scenario.label in ("default", "trimmed")}
