"""From a sweep's record: for a machine of C cores and R bytes, the shape and memory limit that
run the most tasks at once without a worker being killed, and the fastest and cheapest
configuration the sweep measured without running out of memory.

How a worker's limit is sized (docs/how-to/size-and-recommend.md says the same):
- what one worker holds at its worst = its own footprint (the largest measured in the run) +
  threads × the largest peak increase of one task (measured alone in its worker, the largest
  across every finished case and repeat, never a median);
- its nanny kills it when that reaches ``kill_fraction`` of its limit
  (``distributed.worker.memory.terminate``), so the limit is that sum / kill_fraction,
  rounded **up** to a step, and never below what a worker needs to start;
- as many such workers (or threads of one worker) as fit in R minus the margin, at most one
  task per core.

With an input size (``--input-size``), the peak increase of one task is not the largest
measured but the one the workload's size ladder predicts for a task of that input; the advice
gives the ladder's held-out error beside it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import msgspec

from memreplay.analysis.model import heldout_error_text, predict
from memreplay.analysis.task_summary import prefix_peak_increase
from memreplay.plan.cluster_config import MIN_WORKER_MEMORY
from memreplay.plan.sizes import compact_bytes
from memreplay.records.schema import CaseResult, PrefixModel, SweepRecord

__all__ = ["DEFAULT_MARGIN", "LIMIT_STEP", "Advice", "MeasuredChoice", "Recommendation", "recommend"]

LIMIT_STEP = 64 * 2**20  # limits are advised in whole steps, rounded up
DEFAULT_MARGIN = 0.2  # the share of a machine's RAM kept in reserve, unless the user says otherwise


class MeasuredChoice(msgspec.Struct, kw_only=True):
    id: str
    wall_time_s: float | None
    cost_gib_s: float | None
    shape: str
    memory_limit: str


class Advice(msgspec.Struct, kw_only=True):
    """For one workload. ``tasks_at_once`` 0 means it cannot run on that machine: ``reason`` says why."""

    largest_peak_increase_bytes: int | None
    tasks_at_once: int
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit: int | None = None  # bytes per worker
    needs_per_worker_bytes: int | None = None  # footprint + threads × peak increase, before the kill line
    reason: str | None = None
    fastest: MeasuredChoice | None = None
    cheapest: MeasuredChoice | None = None
    oom_cases: list[str] = []
    # with an input size: the task's peak increase is predicted for it, by the model named here
    input_bytes: int | None = None
    predicted_by: str | None = None


class Recommendation(msgspec.Struct, kw_only=True):
    cores: int
    memory_bytes: int
    margin: float
    usable_bytes: int
    kill_fraction: float
    worker_footprint_bytes: int | None
    input_bytes: int | None = None
    workloads: dict[str, Advice]


def _round_up(value: float, step: int = LIMIT_STEP) -> int:
    return int(math.ceil(value / step) * step)


def worker_limit(footprint: int, threads: int, peak: int, kill_fraction: float) -> int:
    """The smallest advised limit at which a worker running ``threads`` such tasks at once stays
    below its nanny's kill line."""
    return max(MIN_WORKER_MEMORY, _round_up((footprint + threads * peak) / kill_fraction))


def _largest_peak_increase(cases: Iterable[CaseResult]) -> int | None:
    """The largest peak increase of one task across ``cases``, prefix by prefix: measured alone
    in its worker wherever a task of that prefix ran alone in any case, else (conservatively)
    with its neighbours."""
    alone: dict[str, list[int]] = defaultdict(list)
    anyhow: dict[str, list[int]] = defaultdict(list)
    for case in cases:
        for prefix, summary in (case.task_memory.by_prefix if case.task_memory else {}).items():
            for peaks, only in ((alone, True), (anyhow, False)):
                if (peak := prefix_peak_increase(summary, alone_only=only)) is not None:
                    peaks[prefix].append(peak)
    # a prefix measured alone in any case is judged by those measurements only
    return max((max(alone[prefix] or anyhow[prefix]) for prefix in anyhow), default=None)


def _shape(cores: int, usable: int, footprint: int, peak: int, kill_fraction: float) -> Advice:
    """Most tasks at once, as single-threaded worker processes or as threads of one worker."""
    one_task = worker_limit(footprint, 1, peak, kill_fraction)
    as_processes = min(cores, usable // one_task)
    as_threads = max((t for t in range(1, cores + 1) if worker_limit(footprint, t, peak, kill_fraction) <= usable),
                     default=0)
    if max(as_processes, as_threads) < 1:
        return Advice(largest_peak_increase_bytes=peak, tasks_at_once=0, needs_per_worker_bytes=footprint + peak,
                      reason=f"does not fit: one worker running one task needs a {compact_bytes(one_task)} limit, "
                             f"and {compact_bytes(usable)} is usable")
    if as_processes >= as_threads:  # processes: no GIL between tasks, one limit per task
        workers, threads = as_processes, 1
    else:  # one worker's footprint instead of several: more tasks fit
        workers, threads = 1, as_threads
    needed = worker_limit(footprint, threads, peak, kill_fraction)
    # what is left over goes to the workers too, in whole steps (never below what they need)
    limit = max(needed, usable // workers // LIMIT_STEP * LIMIT_STEP)
    return Advice(largest_peak_increase_bytes=peak, tasks_at_once=workers * threads, n_workers=workers,
                  threads_per_worker=threads, memory_limit=limit, needs_per_worker_bytes=footprint + threads * peak)


def _size_model(record: SweepRecord, workload: str) -> tuple[PrefixModel, str] | None:
    """The workload's size ladder: the line that predicts a task's peak increase from its input.
    Never the fit on the sweep's own tasks: what earlier tasks left in a worker bends it (its
    held-out error reached hundreds of percent), so it is no ground to extrapolate on."""
    for ladder in record.summary.ladders:
        if ladder.workload == workload and ladder.model is not None:
            return ladder.model, f"the size ladder (held-out error {heldout_error_text(ladder)})"
    return None


def recommend(record: SweepRecord, cores: int, memory: int, margin: float, kill_fraction: float,
              input_bytes: int | None = None) -> Recommendation:
    finished = [c for c in record.cases if c.outcome == "ok"]
    footprints = [c.task_memory.worker_footprint_bytes for c in finished
                  if c.task_memory and c.task_memory.worker_footprint_bytes]
    footprint = max(footprints, default=None)
    usable = int(memory * (1 - margin))
    advice = {}
    for workload in dict.fromkeys(case.workload.name for case in record.cases):
        ok = [c for c in finished if c.workload.name == workload]
        oom = sorted(c.id for c in record.cases if c.workload.name == workload and c.outcome == "oom")
        peak = _largest_peak_increase(ok)
        predicted_by = None
        if input_bytes is not None and peak is not None:
            sized = _size_model(record, workload)
            if sized is None:
                advice[workload] = Advice(largest_peak_increase_bytes=None, tasks_at_once=0, oom_cases=oom,
                                          input_bytes=input_bytes,
                                          reason="no size ladder in this run to predict a larger input from: "
                                                 "sweep with size_ladder = true")
                continue
            peak, predicted_by = predict(sized[0], input_bytes), sized[1]
        if not ok or peak is None or footprint is None:
            outcomes = sorted({c.outcome for c in record.cases if c.workload.name == workload})
            why = ("every case ran out of memory" if outcomes == ["oom"] else
                   f"no case finished ok (outcomes: {', '.join(outcomes)})" if not ok else
                   "no task's memory was measured")
            advice[workload] = Advice(largest_peak_increase_bytes=peak, tasks_at_once=0, oom_cases=oom,
                                      reason=f"no advice: {why}; sweep larger memory limits")
            continue
        shape = _shape(cores, usable, footprint, peak, kill_fraction)
        shape.fastest, shape.cheapest, shape.oom_cases = _pick(ok, "wall_time_s"), _pick(ok, "cost_gib_s"), oom
        shape.input_bytes, shape.predicted_by = input_bytes, predicted_by
        advice[workload] = shape
    return Recommendation(cores=cores, memory_bytes=memory, margin=margin, usable_bytes=usable,
                          kill_fraction=kill_fraction, worker_footprint_bytes=footprint, input_bytes=input_bytes,
                          workloads=advice)


def _pick(cases: list[CaseResult], key: str) -> MeasuredChoice | None:
    measured = [c for c in cases if getattr(c, key) is not None]
    if not measured:
        return None
    best = min(measured, key=lambda c: getattr(c, key))
    return MeasuredChoice(id=best.id, wall_time_s=best.wall_time_s, cost_gib_s=best.cost_gib_s,
                          shape=best.config.shape, memory_limit=compact_bytes(best.config.memory_limit))
