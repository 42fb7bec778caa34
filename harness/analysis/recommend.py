"""From a sweep's record: how many tasks a machine can run at once, which shape and memory
limit to use, and which measured configuration was fastest and cheapest without running out
of memory."""

from __future__ import annotations

import statistics
from collections import defaultdict

import msgspec

from harness.plan.sizes import compact_bytes
from harness.records.schema import CaseResult, PrefixModel, SweepRecord

__all__ = ["TERMINATE_FRACTION", "Advice", "MeasuredChoice", "Recommendation", "recommend"]

TERMINATE_FRACTION = 0.95  # dask's nanny kills a worker above this share of its memory limit
_STEP = 64 * 2**20


class MeasuredChoice(msgspec.Struct, kw_only=True):
    id: str
    wall_time_s: float | None
    cost_gib_s: float | None
    shape: str
    memory_limit: str


class Advice(msgspec.Struct, kw_only=True):
    largest_peak_increase_bytes: int
    tasks_at_once: int
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: int | None = None
    needs_per_worker_bytes: int | None = None
    fastest: MeasuredChoice | None = None
    cheapest: MeasuredChoice | None = None
    oom_cases: list[str] = []


class Recommendation(msgspec.Struct, kw_only=True):
    cores: int
    memory_bytes: int
    margin: float
    usable_bytes: int
    worker_footprint_bytes: int
    workloads: dict[str, Advice]


def _largest_peak_increase(cases: list[CaseResult], model: dict[str, PrefixModel]) -> dict[str, int]:
    """Per workload, the largest peak increase of one task. A prefix the sizing model covers
    uses its peak increase measured with the task alone in its worker; with threads > 1 a row
    can hold a neighbour's memory too."""
    peaks: dict[str, int] = defaultdict(int)
    for case in cases:
        name = case.workload.name
        for prefix, summary in (case.task_memory.by_prefix if case.task_memory else {}).items():
            alone = model[prefix].max_peak_increase_bytes if prefix in model else None
            peaks[name] = max(peaks[name], alone if alone is not None else summary.peak_increase_max_bytes or 0)
    return dict(peaks)


def _shape(cores: int, usable: int, footprint: int, peak: int) -> dict[str, int]:
    """Most tasks at once, as single-threaded worker processes or as threads of one worker."""
    as_processes = min(cores, usable // (footprint + peak)) if footprint + peak else cores
    as_threads = min(cores, (usable - footprint) // peak) if peak else cores
    if max(as_processes, as_threads) < 1:
        return {"tasks_at_once": 0}
    if as_processes >= as_threads:  # processes: no GIL between tasks, one limit per task
        workers, threads = as_processes, 1
    else:  # one worker's footprint instead of several: more tasks fit
        workers, threads = 1, as_threads
    limit = max(_STEP, usable // workers // _STEP * _STEP)
    return {"tasks_at_once": workers * threads, "n_workers": workers, "threads_per_worker": threads,
            "memory_limit": limit, "needs_per_worker_bytes": int((footprint + threads * peak) / TERMINATE_FRACTION)}


def recommend(record: SweepRecord, cores: int, memory: int, margin: float = 0.2) -> Recommendation:
    finished = [c for c in record.cases if c.outcome == "ok"]
    footprints = [c.task_memory.worker_footprint_bytes for c in finished
                  if c.task_memory and c.task_memory.worker_footprint_bytes]
    footprint = int(statistics.median(footprints)) if footprints else 0
    usable = int(memory * (1 - margin))
    advice = {}
    for workload, peak in sorted(_largest_peak_increase(finished, record.summary.model).items()):
        ok = [c for c in finished if c.workload.name == workload]
        advice[workload] = Advice(
            largest_peak_increase_bytes=peak,
            **_shape(cores, usable, footprint, peak),
            fastest=_pick(ok, "wall_time_s"),
            cheapest=_pick(ok, "cost_gib_s"),
            oom_cases=sorted(c.id for c in record.cases if c.workload.name == workload and c.outcome == "oom"),
        )
    return Recommendation(cores=cores, memory_bytes=memory, margin=margin, usable_bytes=usable,
                          worker_footprint_bytes=footprint, workloads=advice)


def _pick(cases: list[CaseResult], key: str) -> MeasuredChoice | None:
    measured = [c for c in cases if getattr(c, key) is not None]
    if not measured:
        return None
    best = min(measured, key=lambda c: getattr(c, key))
    return MeasuredChoice(id=best.id, wall_time_s=best.wall_time_s, cost_gib_s=best.cost_gib_s,
                          shape=best.config.shape, memory_limit=compact_bytes(best.config.memory_limit))
