"""``memreplay plan``: from a sweep's record and a catalog of machine types, for an input larger
than the swept one: per machine type, the shape ``recommend`` gives it, how many tasks run at
once, the share of cores memory leaves idle, the time per task, the number of machines that
meets a deadline, the total time and the cost; ranked by cost.

What is measured and what is modelled (each plan says it again, workload by workload):
- a task's peak increase: measured in the sweep where the input's tasks are no larger than the
  swept ones, else the size ladder's line at the task's input (its held-out error beside it);
- a task's duration: the size ladder's duration line (one task alone in a fresh process), with
  the range its own measurements spread over; without a ladder (a replayed trace), each task's
  duration as the sweep measured it (a replay's tasks take the recorded durations);
- the total time: the tasks in input order, each on the next free slot of the machines (list
  scheduling). Shuffles, transfers, the scheduler and machine start-up are not modelled: an
  embarrassingly parallel estimate, stated in every plan;
- the results held at once: measured in the sweep, scaled with the input; each worker's share of
  them past its thresholds is what it spills, checked against the catalog's disk per worker.

How the input maps to tasks: by default the swept tasks grow in proportion to the input, as
memreplay's corpora do at a larger scale; with a task size, the input is cut into tasks of that
size. A workload without a size ladder keeps its tasks' measured sizes, and their number grows.
"""

from __future__ import annotations

import heapq
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence

import msgspec
from dask.utils import format_bytes

from memreplay.analysis.model import (
    duration_error_text,
    heldout_error_text,
    ladder_duration_model,
    neighbours_cost,
    predict_duration,
)
from memreplay.analysis.recommend import (
    DEFAULT_MARGIN,
    LIMIT_STEP,
    held_results,
    largest_peak_increase,
    memory_thresholds_of,
    recommend,
    spilled_per_worker,
    worker_footprint,
    worker_limit,
)
from memreplay.analysis.scheduler_model import SchedulerLimit, scheduler_limits
from memreplay.errors import UserError
from memreplay.plan.machine_catalog import MachineCatalog, MachineType
from memreplay.plan.sizes import compact_bytes
from memreplay.records.schema import CaseResult, DurationModel, SchedulerLadder, SizeLadder, SweepRecord
from memreplay.records.task_rows import TaskRow

__all__ = ["SIMULATED_TASKS", "MachinePlan", "NaiveChoice", "PlanInput", "RolloutPlan", "SchedulerPlacement",
           "WorkloadPlan", "makespan", "place_schedulers", "swept_graph_tasks",
           "neighbours", "plan_rollout"]

SIMULATED_TASKS = 50_000  # beyond this many tasks the makespan is the list-scheduling bound, not simulated


class PlanInput(msgspec.Struct, frozen=True, kw_only=True):
    """What the plan is for: ``input_bytes``, or ``factor`` × the swept input; optionally tasks
    of ``task_bytes`` each, and a ``deadline_s``."""

    input_bytes: int | None = None
    factor: float | None = None
    task_bytes: int | None = None
    deadline_s: float | None = None


class MachinePlan(msgspec.Struct, kw_only=True):
    machine: str
    family: str | None
    cores: int
    memory_bytes: int
    price_per_hour: float
    fits: bool
    reason: str | None = None  # why it does not fit
    n_workers: int | None = None
    threads_per_worker: int | None = None
    memory_limit_bytes: int | None = None
    tasks_at_once: int = 0
    idle_core_share: float | None = None  # the share of cores no task runs on: memory ran out first
    idle_reason: str | None = None
    largest_peak_increase_bytes: int | None = None
    worker_peak_rss_bytes: int | None = None  # predicted: footprint + threads × the largest task
    time_per_task_s: float | None = None  # the mean over the input's tasks
    time_per_task_range_s: tuple[float, float] | None = None
    calibration: str | None = None  # how the ladder's line was scaled to the sweep's own tasks
    note: str | None = None  # what else decided its numbers (more machines for their disks)
    machines: int | None = None
    total_time_s: float | None = None
    total_time_range_s: tuple[float, float] | None = None
    cost: float | None = None
    cost_range: tuple[float, float] | None = None
    spills: bool | None = None
    spilled_per_worker_bytes: int | None = None
    rank: int | None = None  # by cost, 1 the cheapest; None: does not fit
    pareto: bool = False  # no other machine type is both faster and cheaper


class NaiveChoice(msgspec.Struct, kw_only=True):
    """The machine type one task per core would pick (the cheapest were every core busy), and what
    happens on it."""

    machine: str
    outcome: str  # what one task per core does there
    cost: float | None  # followed safely (the plan's shape on that machine)
    idle_core_share: float | None
    saving: float | None  # its cost − the plan's, in the catalog's currency
    saving_percent: float | None
    same_as_plan: bool


class SchedulerPlacement(msgspec.Struct, kw_only=True):
    """The scheduler of a workload's graph: its memory limit under one preset (from a scheduler
    ladder), and the cheapest machine type of the catalog whose RAM, less the margin, holds it."""

    limit: SchedulerLimit
    machine: str | None  # None: no machine type of the catalog holds it
    price_per_hour: float | None


class WorkloadPlan(msgspec.Struct, kw_only=True):
    workload: str
    prefix: str | None  # the modelled task function's prefix (None: every task, as measured)
    tasks: int
    largest_task_input_bytes: int | None
    task_input_bytes_total: int | None
    scale_factor: float  # the input over the swept input
    measured: list[str] = []
    modelled: list[str] = []
    reason: str | None = None  # no plan at all
    machines: list[MachinePlan] = []
    chosen: str | None = None
    naive: NaiveChoice | None = None
    scheduler_tasks: int | None = None  # the graph's tasks the scheduler is sized for
    scheduler_tasks_from: str | None = None  # "--tasks", or how the swept graph was scaled
    scheduler: list[SchedulerPlacement] = []


class RolloutPlan(msgspec.Struct, kw_only=True):
    catalog: str
    currency: str
    prices_taken: str | None
    catalog_note: str | None
    input_bytes: int | None
    factor: float | None
    task_bytes: int | None
    deadline_s: float | None
    margin: float
    kill_fraction: float
    workloads: dict[str, WorkloadPlan]


class _Tasks(msgspec.Struct, kw_only=True):
    """The input's tasks, in groups of alike ones (a million tasks of one size are one group):
    each group's input bytes, how many tasks, and one task's time alone in a worker, expected,
    low and high."""

    inputs: list[int]
    counts: list[int]
    alone: list[float]
    low: list[float]
    high: list[float]
    interleaved: bool  # the groups repeat in turn (copies of a graph), else one after the other
    prefix: str | None
    ladder: SizeLadder | None
    factor: float
    measured: list[str]
    modelled: list[str]
    # what neighbours cost a task: the ladder's largest input on every core at once over alone
    # (1.0: not measured), and how far its copies spread (low, high, as ratios to their median)
    busy: float = 1.0
    busy_spread: tuple[float, float] = (1.0, 1.0)
    # a run's time outside its tasks (submitting the graph, gathering the results), as measured
    # in the sweep's cases: median, lowest, highest
    outside_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # per threads per worker: the sweep's own tasks (input bytes, duration, the ladder's line at
    # that input × what its case's neighbours cost it)
    in_cluster: dict[int, list[tuple[int, float, float]]] = {}

    @property
    def total(self) -> int:
        return sum(self.counts)

    def mean(self, durations: Sequence[float]) -> float:
        return math.fsum(d * c for d, c in zip(durations, self.counts)) / self.total if self.total else 0.0

    def makespan(self, durations: Sequence[float], slots: int) -> float:
        """The groups' tasks in order on ``slots`` slots (see :func:`makespan`), in closed form
        where they are alike or too many to simulate."""
        live = [(d, c) for d, c in zip(durations, self.counts) if c]
        if not live:
            return 0.0
        if len({d for d, _ in live}) == 1:
            return math.ceil(self.total / slots) * live[0][0]
        if self.total > SIMULATED_TASKS:
            return max(math.fsum(d * c for d, c in live) / slots, max(d for d, _ in live))
        if self.interleaved:
            order = [d for turn in range(max(c for _, c in live)) for d, c in live if c > turn]
        else:
            order = [d for d, c in live for _ in range(c)]
        return makespan(order, slots)

    def timed(self, threads: int, occupancy: float) -> tuple[list[float], list[float], list[float], str | None]:
        """Each group's expected duration, low and high on workers of ``threads`` threads with
        ``occupancy`` × the machine's cores busy: its time alone × what neighbours cost × the
        sweep's own tasks against that (at that many threads, else at any: their summed
        durations over the model's, so a large task weighs as much as its time). The range
        reaches from alone to every core busy (the scheduler, the client and a machine's other
        processes use cores too), widened by the widest spread measured: the ladder's largest
        inputs, the busy copies, the sweep's largest tasks (half the largest input and up: a
        tiny input's ratio to a small intercept says nothing of a large task)."""
        crowd = neighbours(self.busy, occupancy)
        tasks = self.in_cluster.get(threads) or [task for measured in self.in_cluster.values() for task in measured]
        warm, low, high = 1.0, self.busy_spread[0], self.busy_spread[1]
        note = f"× {crowd:.2f} for its neighbours ({occupancy:.0%} of the cores busy)" if self.busy != 1 else None
        if tasks:
            warm = math.fsum(d for _, d, _ in tasks) / math.fsum(e for _, _, e in tasks)
            largest = max(size for size, _, _ in tasks)
            ratios = [d / e / warm for size, d, e in tasks if 2 * size >= largest]
            low, high = min([low, *ratios]), max([high, *ratios])
            where = f"{threads} thread(s) per worker" if threads in self.in_cluster else "any shape"
            note = ((note + "; " if note else "") + f"× {warm:.2f}: the sweep's own {len(tasks)} tasks at {where} "
                    f"took that much of this model's time")
        return ([d * crowd * warm for d in self.alone],
                # the low end is the faster of the ladder's own measurement and the sweep's: a sweep
                # measured on a loaded machine must not lift it
                [min(lo, d * low) * min(1.0, warm) for lo, d in zip(self.low, self.alone)],
                [max(hi, d * high) * warm * self.busy for hi, d in zip(self.high, self.alone)], note)


def neighbours(busy: float, occupancy: float) -> float:
    """What a task's neighbours cost it with ``occupancy`` × the cores busy, as a factor on its
    time alone: 1 alone, ``busy`` (measured) with every core busy, in proportion between; past
    every core, time-sliced on top."""
    return 1 + (busy - 1) * occupancy if occupancy <= 1 else busy * occupancy


def makespan(durations: Sequence[float], slots: int) -> float:
    """The time ``durations`` take in order on ``slots`` slots, each task on the next free one."""
    if not durations:
        return 0.0
    free = [0.0] * min(slots, len(durations))
    for duration in durations:
        heapq.heappush(free, heapq.heappop(free) + duration)
    return max(free)


def _machines_for(tasks: _Tasks, durations: Sequence[float], slots: int, deadline: float | None) -> int | None:
    """The fewest machines whose ``slots`` each meet the deadline with ``durations`` (1 without
    one); None: no number does."""
    if deadline is None:
        return 1
    most = max(1, math.ceil(tasks.total / slots))  # more machines than that leave whole machines idle
    within = deadline - tasks.outside_s[2]  # what the run spends outside its tasks, at its longest
    return _fewest(1, most, lambda count: tasks.makespan(durations, slots * count) <= within)


def _fewest(low: int, high: int, enough: Callable[[int], bool]) -> int | None:
    """The smallest count in [low, high] that is ``enough``, for a condition that stays true once
    it holds (more machines are never slower, nor spill more each); None: not even ``high``."""
    if not enough(high):
        return None
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle + 1, high)
    return low


def _ladder(record: SweepRecord, workload: str) -> SizeLadder | None:
    return next((ladder for ladder in record.summary.ladders
                 if ladder.workload == workload and ladder.model is not None and ladder.outcome == "ok"), None)


def _first_ok(cases: list[CaseResult]) -> CaseResult | None:
    return next((case for case in cases if case.outcome == "ok"), None)


def _ratio_range(ladder: SizeLadder) -> tuple[float, float]:
    """How far the ladder's own measurements of duration lie from its line, as ratios (at least
    the line itself): the range a predicted duration is given with. Only the largest rungs count
    (half the largest input and up): the plan's tasks are as large or larger, and a tiny input's
    ratio to a line's small intercept says nothing of them."""
    model = ladder_duration_model(ladder)
    assert model is not None
    largest = max(rung.input_bytes for rung in ladder.rungs)
    ratios = [duration / expected for rung in ladder.rungs if 2 * rung.input_bytes >= largest
              for duration in rung.duration_s if (expected := predict_duration(model, rung.input_bytes)) > 0]
    held = model.heldout
    if held.predicted_s > 0:
        ratios.append(held.measured_s / held.predicted_s)
    return min([1.0, *ratios]), max([1.0, *ratios])


def _alone(ladder: SizeLadder, model: DurationModel, size: int) -> float:
    """One task of ``size`` alone: the ladder's line; below its smallest input (where a line's
    intercept can reach zero or less), the smallest input's measured time in proportion."""
    smallest = min((rung for rung in ladder.rungs if rung.duration_s), key=lambda rung: rung.input_bytes)
    floor = statistics.median(smallest.duration_s) * size / smallest.input_bytes
    return floor if size < smallest.input_bytes else max(floor, predict_duration(model, size))


def _sized_tasks(ladder: SizeLadder, model: DurationModel, inputs: list[int], counts: list[int],
                 modelled: list[str]) -> tuple[list[float], list[float], list[float]]:
    """Each group's time alone, low and high, from the ladder; what is extrapolated, said."""
    low_ratio, high_ratio = _ratio_range(ladder)
    alone = [_alone(ladder, model, size) for size in inputs]
    modelled.append(f"time per task: the size ladder's duration line ({ladder.prefix} alone in a fresh process, "
                    f"held-out error {duration_error_text(ladder)}); the range spans its measurements "
                    f"({low_ratio:.2f}–{high_ratio:.2f}× the line)")
    rungs = [rung.input_bytes for rung in ladder.rungs if rung.duration_s]
    live = [size for size, count in zip(inputs, counts) if count]
    if live and max(live) > 2 * max(rungs):
        modelled.append(f"the largest task, {format_bytes(max(live))}, is {max(live) / max(rungs):,.1f}× the "
                        "ladder's largest input: its time and memory extrapolated along the lines")
    if live and min(live) < min(rungs):
        modelled.append(f"tasks of {format_bytes(min(live))} are smaller than the ladder's smallest input "
                        f"({format_bytes(min(rungs))}): their time is its measured time in proportion")
    return alone, [d * low_ratio for d in alone], [d * high_ratio for d in alone]


def _planned_tasks(record: SweepRecord, workload: str, rows: list[tuple[TaskRow, str]], wanted: PlanInput) -> _Tasks:
    """The input's tasks, from the workload's measured ones and its size ladder."""
    cases = [c for c in record.cases if c.workload.name == workload]
    first = _first_ok(cases)
    if first is None:
        raise _NoPlan("no case finished ok, so no task was measured: sweep larger memory limits")
    replay = workload.startswith("replay:")
    if wanted.input_bytes is not None and replay:
        raise _NoPlan("a replayed trace's input size is not known to memreplay: give --input as a multiple of the "
                      "recorded run, e.g. 10x")
    swept = first.corpus.total_bytes  # the swept input, which --input is measured against
    factor = wanted.factor if wanted.factor is not None else (wanted.input_bytes or swept) / swept
    ladder = _ladder(record, workload)
    in_order = sorted((row for row, case in rows if case == first.id), key=lambda row: row.start or 0.0)
    every_task_s = math.fsum(row.duration_s or 0.0 for row in in_order)
    measured: list[str] = []
    modelled: list[str] = []
    in_cluster: dict[int, list[tuple[int, float, float]]] = {}
    busy, busy_spread = 1.0, (1.0, 1.0)
    if ladder is not None and (duration_model := ladder_duration_model(ladder)) is not None:
        modelled_rows = [row for row in in_order if row.task_prefix == ladder.prefix and row.input_bytes]
        if not modelled_rows:
            raise _NoPlan(f"no task of {ladder.prefix} with a measured input in case {first.id}")
        if wanted.task_bytes is not None:
            total = max(1, round(factor * swept))
            whole, rest = divmod(total, wanted.task_bytes)
            inputs, counts = [wanted.task_bytes, rest], [whole, 1 if rest else 0]
            modelled.append(f"the input cut into {whole + bool(rest):,} tasks of {format_bytes(wanted.task_bytes)}"
                            + (f" (the last {format_bytes(rest)})" if rest and whole else ""))
        else:
            inputs = [max(1, round((row.input_bytes or 0) * factor)) for row in modelled_rows]
            counts = [1] * len(inputs)
            modelled.append(f"the swept tasks of {ladder.prefix} grown {factor:.3g}× each, as the corpus at a larger "
                            "scale (--task-size cuts the input into tasks of one size instead)")
        alone, low, high = _sized_tasks(ladder, duration_model, inputs, counts, modelled)
        busy, busy_spread = neighbours_cost(ladder) or (1.0, (1.0, 1.0))
        if busy == 1.0:
            modelled.append("what a task's neighbours cost it is not measured (a ladder of an earlier memreplay, or "
                            "of a 1-core machine): a task takes as long beside others as alone")
        else:
            copies = ladder.contended.processes if ladder.contended else 0
            modelled.append(f"beside its neighbours: the largest input on {copies} cores at once took {busy:.2f}× as "
                            "long as alone; with a share of the cores busy, a task takes that share of the difference")
        in_cluster = _in_cluster_ratios(record, workload, rows, ladder.prefix, duration_model, busy)
        if not in_cluster:
            modelled.append("the model is not checked against the sweep's own tasks: no ok case measured them")
        others = every_task_s - math.fsum(row.duration_s or 0.0 for row in modelled_rows)
        if every_task_s > 0 and others > 0:
            names = sorted({row.task_prefix for row in in_order if row.task_prefix != ladder.prefix})
            modelled.append(f"tasks other than {ladder.prefix} ({', '.join(names)}) not modelled: "
                            f"{100 * others / every_task_s:.1f} % of the task time of case {first.id}")
        prefix, interleaved = ladder.prefix, False
    else:
        if wanted.task_bytes is not None:
            raise _NoPlan("no size ladder to size tasks of --task-size with: sweep with size_ladder = true "
                          "(a replayed trace keeps its recorded tasks)")
        by_key: dict[str, list[float]] = defaultdict(list)
        for row, _case in rows:
            if row.duration_s is not None:
                by_key[row.task_key].append(row.duration_s)
        kept = [row for row in in_order if row.task_key in by_key]
        # the graph's tasks run factor times over: whole copies, then the first tasks of one more
        whole, extra = int(factor), round((factor - int(factor)) * len(kept))
        counts = [whole + (i < extra) for i in range(len(kept))]
        if kept and not any(counts):
            counts[0] = 1
        inputs = [row.input_bytes or 0 for row in kept]
        alone = [statistics.median(by_key[row.task_key]) for row in kept]
        low = [min(by_key[row.task_key]) for row in kept]
        high = [max(by_key[row.task_key]) for row in kept]
        what = "the recorded durations, as the replay reproduced them" if replay else "as measured in the sweep"
        measured.append(f"time per task: each task's median over the sweep's ok cases ({what}); the range is their "
                        "lowest to highest")
        modelled.append(f"the graph's {len(kept):,} tasks run {factor:g} times over ({sum(counts):,} tasks): more "
                        "tasks of the measured sizes, not larger ones (no size ladder)")
        prefix, interleaved = None, True
    outside = _outside_tasks(record, workload, rows)
    if outside[0] > 0:
        measured.append(f"a run's time outside its tasks (submitting the graph, gathering the results): "
                        f"{outside[0]:.2f} s, the median of the sweep's cases ({outside[1]:.2f}–{outside[2]:.2f} s)")
    modelled.append("total time: that, and the tasks in input order, each on the next free slot; shuffles, transfers "
                    "and machine start-up not modelled: an embarrassingly parallel estimate")
    modelled.append("machines: as many as meet the deadline at the slow end of the range")
    return _Tasks(inputs=inputs, counts=counts, alone=alone, low=low, high=high, interleaved=interleaved,
                  prefix=prefix, ladder=ladder, factor=factor, measured=measured, modelled=modelled,
                  in_cluster=in_cluster, busy=busy, busy_spread=busy_spread, outside_s=outside)


def _outside_tasks(record: SweepRecord, workload: str, rows: list[tuple[TaskRow, str]]) -> tuple[float, float, float]:
    """Per ok case of the workload, its wall time less the span of its tasks (first start to
    last stop): the median, lowest and highest; zeros where no case recorded both."""
    spans: dict[str, list[float]] = defaultdict(list)
    for row, case in rows:
        if row.start is not None and row.stop is not None:
            spans[case] += [row.start, row.stop]
    outside = [max(0.0, (case.wall_time_s or 0.0) - (max(spans[case.id]) - min(spans[case.id])))
               for case in record.cases if case.workload.name == workload and case.outcome == "ok"
               and case.wall_time_s and spans.get(case.id)]
    return (statistics.median(outside), min(outside), max(outside)) if outside else (0.0, 0.0, 0.0)


def _in_cluster_ratios(record: SweepRecord, workload: str, rows: list[tuple[TaskRow, str]], prefix: str,
                       model: DurationModel, busy: float) -> dict[int, list[tuple[int, float, float]]]:
    """Per threads per worker, each swept task of ``prefix`` against the ladder's line at its
    input × what its case's neighbours cost (its tasks at once over the sweep machine's cores)."""
    cores = record.environment.cpu_count or 1
    cases = {case.id: case.config for case in record.cases if case.workload.name == workload}
    tasks: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for row, case in rows:
        config = cases.get(case)
        if (config is not None and row.task_prefix == prefix and row.input_bytes and row.duration_s
                and (line := predict_duration(model, row.input_bytes)) > 0):
            crowd = neighbours(busy, config.n_workers * config.threads_per_worker / cores)
            tasks[config.threads_per_worker].append((row.input_bytes, row.duration_s, line * crowd))
    return dict(tasks)


class _NoPlan(Exception):
    """No plan for this workload, and why."""


def _machine_plan(machine: MachineType, record: SweepRecord, workload: str, tasks: _Tasks, wanted: PlanInput,
                  margin: float, kill_fraction: float, held: float | None, thresholds: dict[str, object],
                  sized_for: int | None) -> MachinePlan:
    """One machine type's plan; ``sized_for``: the task input its peak is predicted at (None:
    the largest the sweep measured)."""
    advice = recommend(record, machine.cores, machine.memory_bytes, margin, kill_fraction,
                       sized_for).workloads[workload]
    plan = MachinePlan(machine=machine.name, family=machine.family, cores=machine.cores,
                       memory_bytes=machine.memory_bytes, price_per_hour=machine.price_per_hour, fits=False,
                       largest_peak_increase_bytes=advice.largest_peak_increase_bytes)
    if not advice.tasks_at_once or advice.n_workers is None or advice.threads_per_worker is None:
        plan.reason = (advice.reason or "no shape fits").removeprefix("does not fit: ")
        if wanted.task_bytes is None and tasks.ladder is not None and tasks.factor > 1:
            plan.reason += " (--task-size keeps tasks small however large the input)"
        return plan
    workers, threads, limit = advice.n_workers, advice.threads_per_worker, advice.memory_limit or 0
    plan.n_workers, plan.threads_per_worker, plan.memory_limit_bytes = workers, threads, limit
    plan.tasks_at_once = workers * threads
    plan.idle_core_share = 1 - plan.tasks_at_once / machine.cores
    if plan.tasks_at_once < machine.cores:
        one = worker_limit(_footprint(record), 1, advice.largest_peak_increase_bytes or 0, kill_fraction)
        plan.idle_reason = (f"memory runs out first: one task per core needs {machine.cores} × "
                            f"{format_bytes(one)}, {format_bytes(int(machine.memory_bytes * (1 - margin)))} usable")
    plan.worker_peak_rss_bytes = advice.needs_per_worker_bytes
    durations, lows, highs, plan.calibration = tasks.timed(threads, plan.tasks_at_once / machine.cores)
    plan.time_per_task_s = tasks.mean(durations)
    plan.time_per_task_range_s = (tasks.mean(lows), tasks.mean(highs))
    machines = _machines_for(tasks, highs, plan.tasks_at_once, wanted.deadline_s)
    if machines is None:
        longest = max(h for h, c in zip(highs, tasks.counts) if c)
        plan.reason = ("no number of machines meets the deadline: its longest task alone may take "
                       f"{longest:,.1f} s" if wanted.deadline_s is not None and longest > wanted.deadline_s
                       else "no number of machines meets the deadline")
        return plan
    if held is not None:
        footprint, peak = _footprint(record), advice.largest_peak_increase_bytes or 0

        def spilled(count: int) -> int:
            return spilled_per_worker((count * workers, threads, limit), held, footprint, peak, thresholds)

        disk = machine.disk_per_worker_bytes
        if disk is not None and spilled(machines) > disk:  # more machines spread the results thinner
            enough = _fewest(machines, machines * 2**40, lambda count: spilled(count) <= disk)
            if enough is None:
                plan.reason = (f"each worker would spill about {format_bytes(spilled(machines))} of results, more "
                               f"than its {format_bytes(disk)} of disk, on any number of machines")
                return plan
            plan.note = (f"{enough:,} machines, not the {machines:,} its time needs: on fewer, each worker spills "
                         f"more results than its {format_bytes(disk)} of disk holds")
            machines = enough
        plan.spilled_per_worker_bytes = spilled(machines)
        plan.spills = plan.spilled_per_worker_bytes >= LIMIT_STEP  # less: as recommend, noise
    slots = machines * plan.tasks_at_once
    plan.machines = machines
    middle, fewest, most = tasks.outside_s
    plan.total_time_s = middle + tasks.makespan(durations, slots)
    plan.total_time_range_s = (fewest + tasks.makespan(lows, slots), most + tasks.makespan(highs, slots))
    hourly = machines * machine.price_per_hour / 3600  # billed by the second
    plan.cost = plan.total_time_s * hourly
    plan.cost_range = (plan.total_time_range_s[0] * hourly, plan.total_time_range_s[1] * hourly)
    plan.fits = True
    return plan


def _footprint(record: SweepRecord) -> int:
    return worker_footprint(record) or 0


def _swept_inputs(record: SweepRecord, workload: str, prefix: str | None) -> list[int]:
    """The inputs of the swept tasks the peaks were measured on: the largest per prefix."""
    inputs = []
    for case in record.cases:
        if case.workload.name == workload and case.task_memory:
            for name, summary in case.task_memory.by_prefix.items():
                if (prefix is None or name == prefix) and summary.largest_task and summary.largest_task.input_bytes:
                    inputs.append(summary.largest_task.input_bytes)
    return inputs


def _naive(plans: list[MachinePlan], chosen: MachinePlan | None, record: SweepRecord,
           kill_fraction: float, margin: float) -> NaiveChoice | None:
    """One task per core, as a team sizes machines that does not know its tasks' memory: the
    machine type cheapest per core on which the workload runs at all. What runs there is what
    memory allows, so the rest of its cores sit idle; that is what the plan is compared with."""
    fitting = sorted((p for p in plans if p.fits), key=lambda p: (p.price_per_hour / p.cores, p.price_per_hour))
    if not fitting:
        return None
    naive = fitting[0]
    peak = naive.largest_peak_increase_bytes
    if peak is None:
        outcome = "its tasks' memory is not known"
    else:
        per_worker = int(naive.memory_bytes * (1 - margin)) // naive.cores
        needs = worker_limit(_footprint(record), 1, peak, kill_fraction)
        outcome = (f"one task per core gives each of its {naive.cores} workers {format_bytes(per_worker)}, and one "
                   f"task needs a {compact_bytes(needs)} limit: out of memory, so it runs {naive.tasks_at_once} at "
                   "once" if needs > per_worker else "one task per core fits its memory")
    saving = saving_percent = None
    if chosen is not None and naive.cost is not None and chosen.cost is not None:
        saving = naive.cost - chosen.cost
        saving_percent = 100 * saving / naive.cost if naive.cost else None
    return NaiveChoice(machine=naive.machine, outcome=outcome, cost=naive.cost,
                       idle_core_share=naive.idle_core_share, saving=saving, saving_percent=saving_percent,
                       same_as_plan=chosen is not None and naive.machine == chosen.machine)


def _ranked(plans: list[MachinePlan]) -> list[MachinePlan]:
    fitting = sorted((p for p in plans if p.fits), key=lambda p: (p.cost or 0.0, p.total_time_s or 0.0))
    for rank, plan in enumerate(fitting, 1):
        plan.rank = rank
        plan.pareto = not any((other.cost or 0) <= (plan.cost or 0) and (other.total_time_s or 0)
                              <= (plan.total_time_s or 0) and ((other.cost or 0), other.total_time_s or 0)
                              != ((plan.cost or 0), plan.total_time_s or 0) for other in fitting)
    return fitting + [p for p in plans if not p.fits]


def plan_rollout(record: SweepRecord, rows: dict[str, list[tuple[TaskRow, str]]], catalog: MachineCatalog,
                 wanted: PlanInput, kill_fraction: float, margin: float = DEFAULT_MARGIN,
                 workloads: Sequence[str] | None = None) -> RolloutPlan:
    """The plan of every workload of the run (or of ``workloads``) on every machine of ``catalog``."""
    known = list(dict.fromkeys(case.workload.name for case in record.cases))
    for name in workloads or ():
        if name not in known:
            raise UserError(f"--workload {name}: not in this run (its workloads: {', '.join(known) or 'none'})")
    plans: dict[str, WorkloadPlan] = {}
    for workload in workloads or known:
        plans[workload] = _workload_plan(record, workload, rows.get(workload, []), catalog, wanted, kill_fraction,
                                         margin)
    return RolloutPlan(catalog=str(catalog.path), currency=catalog.currency, prices_taken=catalog.prices_taken,
                       catalog_note=catalog.note, input_bytes=wanted.input_bytes, factor=wanted.factor,
                       task_bytes=wanted.task_bytes, deadline_s=wanted.deadline_s, margin=margin,
                       kill_fraction=kill_fraction, workloads=plans)


def _workload_plan(record: SweepRecord, workload: str, rows: list[tuple[TaskRow, str]], catalog: MachineCatalog,
                   wanted: PlanInput, kill_fraction: float, margin: float) -> WorkloadPlan:
    try:
        tasks = _planned_tasks(record, workload, rows, wanted)
    except _NoPlan as why:
        return WorkloadPlan(workload=workload, prefix=None, tasks=0, largest_task_input_bytes=None,
                            task_input_bytes_total=None, scale_factor=wanted.factor or 1.0, reason=str(why))
    ok = [c for c in record.cases if c.workload.name == workload and c.outcome == "ok"]
    held_measured = held_results(ok)
    held = None if held_measured is None else held_measured * tasks.factor
    thresholds = memory_thresholds_of(record, ok)
    measured, modelled = list(tasks.measured), list(tasks.modelled)
    largest = max((size for size, count in zip(tasks.inputs, tasks.counts) if count), default=0)
    # measured peaks where the input's largest task is the swept one; else the ladder's line
    sized_for = (largest if tasks.ladder is not None
                 and largest != max(_swept_inputs(record, workload, tasks.prefix), default=0) else None)
    if sized_for is not None and tasks.ladder is not None:
        modelled.insert(0, f"peak increase per task: the size ladder's line at {format_bytes(largest)} "
                           f"(held-out error {heldout_error_text(tasks.ladder)})")
    else:
        peak = largest_peak_increase(ok)
        measured.insert(0, "peak increase per task: the largest the sweep measured"
                           + (f" ({format_bytes(peak)})" if peak is not None else ""))
    if held is not None:
        modelled.append(f"results held at once: {format_bytes(int(held_measured or 0))} measured, scaled "
                        f"{tasks.factor:.3g}× with the input and spread over every worker; spilling time not modelled")
    modelled.append(f"cost: billed by the second at the catalog's prices ({catalog.currency}"
                    + (f", taken {catalog.prices_taken}" if catalog.prices_taken else "") + ")")
    machine_plans = _ranked([_machine_plan(machine, record, workload, tasks, wanted, margin, kill_fraction, held,
                                           thresholds, sized_for) for machine in catalog.machines])
    chosen = next((p for p in machine_plans if p.fits), None)
    return WorkloadPlan(workload=workload, prefix=tasks.prefix, tasks=tasks.total,
                        largest_task_input_bytes=largest or None,
                        task_input_bytes_total=sum(i * c for i, c in zip(tasks.inputs, tasks.counts)) or None,
                        scale_factor=tasks.factor, measured=measured, modelled=modelled, machines=machine_plans,
                        chosen=chosen.machine if chosen else None,
                        naive=_naive(machine_plans, chosen, record, kill_fraction, margin))


def swept_graph_tasks(record: SweepRecord, workload: str) -> int:
    """The tasks of the workload's largest swept graph: the most rows any finished case of it
    has, aliases and all (the scheduler holds those too)."""
    return max((case.task_memory.rows for case in record.cases if case.workload.name == workload
                and case.outcome == "ok" and case.task_memory is not None), default=0)


def place_schedulers(plan: RolloutPlan, ladder: SchedulerLadder, source: str, catalog: MachineCatalog,
                     record: SweepRecord, tasks: int | None = None) -> None:
    """Each workload's scheduler, sized for ``tasks`` tasks, else for its largest swept graph
    scaled as its input is, under every preset of ``ladder``, placed on the cheapest machine type
    that holds it."""
    for workload in plan.workloads.values():
        if tasks is not None:
            count, said = tasks, "--tasks"
        else:
            swept = swept_graph_tasks(record, workload.workload)
            if not swept:
                continue
            count = max(1, round(swept * workload.scale_factor))
            said = f"the swept graph's {swept:,} tasks × {workload.scale_factor:g}, as its input"
        placements = []
        for limit in scheduler_limits(ladder, count, source):
            holding = [m for m in catalog.machines if m.memory_bytes * (1 - plan.margin) >= limit.limit_bytes]
            cheapest = min(holding, key=lambda m: (m.price_per_hour, m.memory_bytes), default=None)
            placements.append(SchedulerPlacement(limit=limit, machine=cheapest.name if cheapest else None,
                                                 price_per_hour=cheapest.price_per_hour if cheapest else None))
        workload.scheduler_tasks, workload.scheduler_tasks_from, workload.scheduler = count, said, placements
