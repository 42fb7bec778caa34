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

Spilling (from the measured cases, schema 7): the results a workload holds at once are the
largest, over its ok cases, of the sum over workers of each worker's managed + spilled bytes.
Spread over the advised workers, a worker spills when its share passes ``target`` × its limit,
or when footprint + share + threads × largest task passes ``spill`` × its limit. Among the
shapes that fit, the advice takes the one with the most tasks at once that does not spill;
where every one spills, it says so, with the slowdown the sweep measured between its spilling
and its non-spilling cases. A case that peaked within a few percent of its kill line
(borderline) is never the fastest or cheapest measured choice.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable

import msgspec
from dask.utils import format_bytes

from memreplay.analysis.model import heldout_error_text, predict
from memreplay.analysis.scheduler_model import SchedulerLimit
from memreplay.analysis.task_summary import prefix_peak_increase
from memreplay.plan.cluster_config import MIN_WORKER_MEMORY, ClusterConfig
from memreplay.plan.sizes import compact_bytes
from memreplay.records.schema import BORDERLINE_PERCENT, CaseResult, PrefixModel, SweepRecord

__all__ = ["DEFAULT_MARGIN", "LIMIT_STEP", "Advice", "MeasuredChoice", "Recommendation", "held_results",
           "largest_peak_increase", "memory_thresholds_of", "recommend", "spill_reason", "spilled_per_worker",
           "worker_footprint", "worker_limit"]

LIMIT_STEP = 64 * 2**20  # limits are advised in whole steps, rounded up
DEFAULT_MARGIN = 0.2  # the share of a machine's RAM kept in reserve, unless the user says otherwise


class MeasuredChoice(msgspec.Struct, kw_only=True):
    id: str
    wall_time_s: float | None
    cost_gib_s: float | None
    shape: str
    memory_limit: str
    spilled: bool | None = None  # None: not recorded (before schema 7)


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
    # spilling: whether the advised shape will spill (None: the run did not record it), and why
    spills: bool | None = None
    spill_note: str | None = None
    held_bytes: int | None = None  # the results the workload held at once, in its measured cases
    borderline_cases: list[str] = []


class Recommendation(msgspec.Struct, kw_only=True):
    cores: int
    memory_bytes: int
    margin: float
    usable_bytes: int
    kill_fraction: float
    worker_footprint_bytes: int | None
    input_bytes: int | None = None
    workloads: dict[str, Advice]
    scheduler: list[SchedulerLimit] = []  # with --tasks: the scheduler's limit per preset, from a ladder


def _round_up(value: float, step: int = LIMIT_STEP) -> int:
    return int(math.ceil(value / step) * step)


def worker_limit(footprint: int, threads: int, peak: int, kill_fraction: float) -> int:
    """The smallest advised limit at which a worker running ``threads`` such tasks at once stays
    below its nanny's kill line."""
    return max(MIN_WORKER_MEMORY, _round_up((footprint + threads * peak) / kill_fraction))


def worker_footprint(record: SweepRecord) -> int | None:
    """A worker's own footprint: the largest any finished case measured (None: none did)."""
    return max((c.task_memory.worker_footprint_bytes for c in record.cases
                if c.outcome == "ok" and c.task_memory and c.task_memory.worker_footprint_bytes), default=None)


def largest_peak_increase(cases: Iterable[CaseResult]) -> int | None:
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


def _shapes(cores: int, usable: int, footprint: int, peak: int, kill_fraction: float) -> list[tuple[int, int, int]]:
    """Every shape that fits, as (workers, threads, limit): single-threaded worker processes or
    threads of one worker, most tasks at once first (processes first on a tie: no GIL between
    tasks, one limit per task). What is left over goes to the workers too, in whole steps."""
    one_task = worker_limit(footprint, 1, peak, kill_fraction)
    shapes = [(workers, 1) for workers in range(min(cores, usable // one_task), 0, -1)]
    shapes += [(1, threads) for threads in range(cores, 1, -1)
               if worker_limit(footprint, threads, peak, kill_fraction) <= usable]
    shapes.sort(key=lambda shape: (-shape[0] * shape[1], shape[1]))
    return [(workers, threads, max(worker_limit(footprint, threads, peak, kill_fraction),
                                   usable // workers // LIMIT_STEP * LIMIT_STEP)) for workers, threads in shapes]


def _fraction(value: object) -> float | None:
    """A threshold as a fraction, None where it is off (false)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value else None


def _spilled(shape: tuple[int, int, int], held: float, footprint: int, peak: int,
             thresholds: dict[str, object]) -> tuple[float, float, float]:
    """What a worker of ``shape`` sends to disk holding its share of ``held``: (past target, past
    spill, the larger of the two) in bytes."""
    workers, threads, limit = shape
    share = held / workers
    target, spill = _fraction(thresholds.get("target")), _fraction(thresholds.get("spill"))
    process = footprint + share + threads * peak
    # what each threshold sends to disk: managed memory past target; past spill, results until
    # the process is back under target (spill where target is off), never more than it holds
    over_target = share - target * limit if target else 0.0
    over_spill = min(share, process - (target or spill) * limit) if spill and process > spill * limit else 0.0
    return over_target, over_spill, max(over_target, over_spill, 0.0)


def spilled_per_worker(shape: tuple[int, int, int], held: float, footprint: int, peak: int,
                       thresholds: dict[str, object]) -> int:
    """The bytes of results each worker of ``shape`` (workers, threads, limit) spills to disk
    holding its share of ``held``: 0 where it stays under its thresholds."""
    return int(_spilled(shape, held, footprint, peak, thresholds)[2])


def spill_reason(shape: tuple[int, int, int], held: float, footprint: int, peak: int,
                 thresholds: dict[str, object]) -> str | None:
    """Why a worker of ``shape`` would spill, holding its share of ``held``; None: it would not,
    or not enough to matter (less than one limit step of its results)."""
    workers, threads, limit = shape
    share = held / workers
    target, spill = _fraction(thresholds.get("target")), _fraction(thresholds.get("spill"))
    over_target, over_spill, spilled = _spilled(shape, held, footprint, peak, thresholds)
    if spilled < LIMIT_STEP:
        return None
    if over_target >= over_spill:
        return (f"each worker holds about {format_bytes(int(share))} of results, "
                f"{format_bytes(int(spilled))} more than its target ({target:g} × {compact_bytes(limit)})")
    return (f"a worker's footprint, its {format_bytes(int(share))} of results and {threads} × its largest task "
            f"pass its spill threshold ({spill:g} × {compact_bytes(limit)}): about {format_bytes(int(spilled))} "
            "of results to disk")


def _slowdown(ok: list[CaseResult]) -> str:
    """The measured cost of spilling: each ok case that spilled against one of its shape that did
    not (at another limit), the median of their wall times' ratios; where no shape has both, the
    median wall time of every spilling case against every other."""
    recorded = [c for c in ok if c.memory_manager is not None and c.wall_time_s]
    spilled = [c for c in recorded if c.memory_manager and c.memory_manager.spilled]
    kept = [c for c in recorded if c.memory_manager and not c.memory_manager.spilled]
    if not spilled:
        return "no measured case spilled, so its cost was not measured"
    if not kept:
        return "every measured case spilled, so how much slower that is was not measured"

    def like(case: CaseResult) -> tuple[object, ...]:
        return case.config.shape, case.config.processes, case.config.memory_thresholds, case.config.scheduler_preset

    fastest: dict[tuple[object, ...], CaseResult] = {}
    for other in sorted(kept, key=lambda c: -(c.wall_time_s or 0)):  # the fastest of each kind last, kept
        fastest[like(other)] = other
    pairs = [(case, fastest[like(case)]) for case in spilled if like(case) in fastest]
    if pairs:
        ratios = [(case.wall_time_s or 0) / (other.wall_time_s or 1) for case, other in pairs]
        shown = ", ".join(f"{case.config.label} {case.wall_time_s:.1f} s against {other.config.label} "
                          f"{other.wall_time_s:.1f} s" for case, other in pairs)
        return f"spilling took {statistics.median(ratios):.2f}× the wall time of the same shape without ({shown})"
    times = [c.wall_time_s or 0 for c in spilled], [c.wall_time_s or 0 for c in kept]
    return (f"the sweep's spilling cases took {statistics.median(times[0]) / statistics.median(times[1]):.2f}× the "
            f"median wall time of those that did not ({statistics.median(times[0]):.1f} s against "
            f"{statistics.median(times[1]):.1f} s)")


def _shape(cores: int, usable: int, footprint: int, peak: int, kill_fraction: float, held: int | None = None,
           thresholds: dict[str, object] | None = None, ok: list[CaseResult] | None = None,
           avoid: list[ClusterConfig] | None = None) -> Advice:
    """Most tasks at once; with ``held`` (the results the workload holds at once, measured), the
    shape with the most tasks at once that does not spill, where one fits. Never a shape the
    sweep measured borderline (``avoid``) at a limit less than BORDERLINE_PERCENT above that case's."""
    fitting = _shapes(cores, usable, footprint, peak, kill_fraction)
    shapes = [shape for shape in fitting if not any((c.n_workers, c.threads_per_worker) == shape[:2]
                                                   and shape[2] < c.memory_limit * (1 + BORDERLINE_PERCENT / 100)
                                                   for c in avoid or [])]
    if fitting and not shapes:
        return Advice(largest_peak_increase_bytes=peak, tasks_at_once=0, needs_per_worker_bytes=footprint + peak,
                      reason=f"every shape that fits peaked within {BORDERLINE_PERCENT:g} % of its kill line in the "
                             "sweep at this limit or more: give the workers more memory")
    if not shapes:
        one_task = worker_limit(footprint, 1, peak, kill_fraction)
        return Advice(largest_peak_increase_bytes=peak, tasks_at_once=0, needs_per_worker_bytes=footprint + peak,
                      reason=f"does not fit: one worker running one task needs a {compact_bytes(one_task)} limit, "
                             f"and {compact_bytes(usable)} is usable")
    chosen, spills, note = shapes[0], None, None
    if held is not None:
        reasons = [spill_reason(shape, held, footprint, peak, thresholds or {}) for shape in shapes]
        calm = [shape for shape, reason in zip(shapes, reasons) if reason is None]
        if calm:
            chosen, spills = calm[0], False
            if chosen != shapes[0]:
                note = (f"{shapes[0][0]}x{shapes[0][1]} would run {shapes[0][0] * shapes[0][1]} tasks at once but "
                        f"spill ({reasons[0]}); this shape does not")
        else:
            spills = True
            note = f"every shape that fits spills ({reasons[0]}); {_slowdown(ok or [])}"
    workers, threads, limit = chosen
    return Advice(largest_peak_increase_bytes=peak, tasks_at_once=workers * threads, n_workers=workers,
                  threads_per_worker=threads, memory_limit=limit, needs_per_worker_bytes=footprint + threads * peak,
                  spills=spills, spill_note=note, held_bytes=held)


def memory_thresholds_of(record: SweepRecord, ok: list[CaseResult]) -> dict[str, object]:
    """The thresholds the advice runs under: those the workers of the workload's cases under the
    default memory preset resolved, else those of the machine the sweep ran on."""
    for case in ok:
        if case.config.memory_thresholds == "default" and case.memory_manager is not None:
            for worker in case.memory_manager.workers:
                if worker.settings:
                    return dict(worker.settings)
    return dict(record.environment.memory.worker_memory) if record.environment.memory else {}


def held_results(cases: list[CaseResult]) -> int | None:
    """The results a workload held at once: over its cases, the largest sum over workers of
    each one's managed + spilled bytes (None: no case recorded it). Cases that did not spill
    first: a result being moved to or from disk is counted twice for a moment."""
    recorded = [c for c in cases if c.memory_manager is not None
                and any(w.held_peak_bytes is not None for w in c.memory_manager.workers)]
    calm = [c for c in recorded if c.memory_manager and not c.memory_manager.spilled]
    return max((sum(w.held_peak_bytes or 0 for w in c.memory_manager.workers)
                for c in calm or recorded if c.memory_manager), default=None)


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
    footprint = worker_footprint(record)
    usable = int(memory * (1 - margin))
    advice = {}
    for workload in dict.fromkeys(case.workload.name for case in record.cases):
        ok = [c for c in finished if c.workload.name == workload]
        oom = sorted(c.id for c in record.cases if c.workload.name == workload and c.outcome == "oom")
        peak = largest_peak_increase(ok)
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
        thresholds = memory_thresholds_of(record, ok)
        # the results held were measured at the sweep's input: for another input they are not known
        held = held_results(ok) if input_bytes is None else None
        avoid = [c.config for c in ok if c.borderline]
        shape = _shape(cores, usable, footprint, peak, kill_fraction, held, thresholds, ok, avoid)
        safe = [c for c in ok if not c.borderline]  # never advise what nearly ran out of memory
        shape.fastest, shape.cheapest, shape.oom_cases = _pick(safe, "wall_time_s"), _pick(safe, "cost_gib_s"), oom
        shape.borderline_cases = sorted(c.id for c in ok if c.borderline)
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
                          shape=best.config.shape, memory_limit=compact_bytes(best.config.memory_limit),
                          spilled=None if best.memory_manager is None else best.memory_manager.spilled)
