"""The scheduler ladder (``memreplay scheduler --ladder``): the scheduler's memory for graphs of
growing size, in three shapes, under each scheduler preset.

A scheduler with no workers holds a submitted graph without running it, so each graph is
measured in a fresh ``dask scheduler`` process with none: its RSS before and with the graph
held, each read once the C library has handed its free pages back to the OS (glibc's
``malloc_trim``), less what its bounded logs hold then, is what the graph holds. Without that,
what submitting left free in the heap (300 to 750 B a task, by how the heap happened to fall)
made one graph's bytes per task move by ±10 % from one size to the next. A line per shape and
preset is fitted on the task counts, the largest held out and predicted. What the logs hold once
tasks run comes from the study's executed scenarios (bytes per entry), bounded by each log's
length. What running adds per task (results and their workers kept) comes from the
second-largest graph of each shape run on workers. Last, the largest graph of each shape runs
on workers under each preset, and the scheduler's peak RSS there is set against the prediction.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import math
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import psutil

from memreplay.analysis.scheduler_model import analyse_ladder
from memreplay.compat import held_task_count
from memreplay.errors import UserError
from memreplay.execute.scheduler_process import SchedulerFailed
from memreplay.plan.distributed_config import SchedulerPreset
from memreplay.probes.scheduler_footprint import measure_structures, scheduler_memory
from memreplay.records.schema import ExecutedCheck, GraphPoint, SchedulerLadder, SchedulerScenario
from memreplay.studies.scheduler import scheduler_processes, transitions_made

__all__ = ["LADDER_SIZES", "MAX_TASKS", "QUICK_LADDER_SIZES", "SHAPES", "Graph", "build_graph", "check_ladder",
           "run_ladder", "shape_tasks"]

# The largest held out, and run on workers. Not smaller: what a held task costs falls as graphs
# grow (about 3.4 KB at 5,000 independent tasks, 3.0 at 40,000), and a line through graphs that
# small over-predicts the largest.
LADDER_SIZES = (10_000, 20_000, 30_000, 40_000, 50_000, 60_000)
QUICK_LADDER_SIZES = (1_000, 2_000, 4_000, 8_000)
MAX_TASKS = 10_000_000
SPLIT_EVERY = 8  # a tree reduction's fan-in, dask's default for its reductions
EXECUTED_WORKERS = 2
SETTLE_S = 0.5  # after the graph is held, before its RSS is read
HOLD_TIMEOUT_S = 600  # a graph not held by then is a scheduler that failed


def _inc(i: int) -> int:
    return i + 1


def _total(*parts: int) -> int:
    return sum(parts)


def _piece(value: int, part: int) -> int:
    return value + part


class Graph(NamedTuple):
    """A graph of tiny tasks as dask's task tuples; ``keys`` are the outputs a client holds."""

    tasks: dict[str, Any]
    keys: list[str]
    edges: int


def _independent(tasks: int, name: str) -> Graph:
    graph = {f"{name}-{i}": (_inc, i) for i in range(tasks)}
    return Graph(graph, list(graph), 0)


def _tree(tasks: int, name: str) -> Graph:
    # leaves, then levels of SPLIT_EVERY-way sums: tasks ≈ leaves × 8/7
    level = [f"{name}-leaf-{i}" for i in range(max(1, round(tasks * (SPLIT_EVERY - 1) / SPLIT_EVERY)))]
    graph: dict[str, Any] = {key: (_inc, i) for i, key in enumerate(level)}
    edges, depth = 0, 0
    while len(level) > 1:
        depth += 1
        parents = []
        for start in range(0, len(level), SPLIT_EVERY):
            key = f"{name}-sum-{depth}-{start // SPLIT_EVERY}"
            children = level[start:start + SPLIT_EVERY]
            graph[key] = (_total, *children)
            edges += len(children)
            parents.append(key)
        level = parents
    return Graph(graph, level, edges)


def _shuffle(tasks: int, name: str) -> Graph:
    # all to all, as dask's task shuffle does it in one stage: k inputs, each split in k pieces,
    # k outputs each gathering one piece of every input; tasks = k² + 2k
    k = max(2, math.isqrt(tasks + 1) - 1)
    graph: dict[str, Any] = {f"{name}-input-{i}": (_inc, i) for i in range(k)}
    for i in range(k):
        for j in range(k):
            graph[f"{name}-piece-{i}-{j}"] = (_piece, f"{name}-input-{i}", j)
    outputs = [f"{name}-output-{j}" for j in range(k)]
    for j, key in enumerate(outputs):
        graph[key] = (_total, *(f"{name}-piece-{i}-{j}" for i in range(k)))
    return Graph(graph, outputs, 2 * k * k)


SHAPES: dict[str, Callable[[int, str], Graph]] = {"independent": _independent, "tree": _tree, "shuffle": _shuffle}


def shape_tasks(shape: str, tasks: int) -> int:
    """The task count of the graph ``build_graph(shape, tasks)`` builds, without building it."""
    if shape == "shuffle":
        k = max(2, math.isqrt(tasks + 1) - 1)
        return k * k + 2 * k
    if shape == "tree":
        level, total = max(1, round(tasks * (SPLIT_EVERY - 1) / SPLIT_EVERY)), 0
        while True:
            total += level
            if level == 1:
                return total
            level = -(-level // SPLIT_EVERY)
    return tasks


def build_graph(shape: str, tasks: int) -> Graph:
    """A graph of about ``tasks`` tasks of ``shape`` (its exact count: ``len(graph.tasks)``)."""
    return SHAPES[shape](tasks, f"ladder-{shape}")


def check_ladder(sizes: list[int], shapes: list[str]) -> None:
    """Refuse a ladder that cannot be fitted and checked, before anything runs."""
    unknown = [shape for shape in shapes if shape not in SHAPES]
    if unknown or not shapes:
        raise UserError(f"--shapes: {', '.join(unknown) or 'none given'}: the shapes are {', '.join(SHAPES)}")
    if len(set(sizes)) < 4:
        raise UserError(f"--sizes: needs at least 4 different task counts (3 to fit, the largest held out), "
                        f"got {len(set(sizes))}")
    for size in sizes:
        if not 10 <= size <= MAX_TASKS:
            raise UserError(f"--sizes: {size:,} tasks is outside 10 to {MAX_TASKS:,}")
    for shape in shapes:  # a shuffle has k² + 2k tasks: close sizes can make one graph
        counts = {shape_tasks(shape, size) for size in sizes}
        if len(counts) < 4:
            raise UserError(f"--sizes: the {shape} graphs of these sizes have only {len(counts)} different task "
                            f"counts ({', '.join(f'{c:,}' for c in sorted(counts))}); give sizes further apart")


def _held_count(dask_scheduler: Any) -> int:
    return held_task_count(dask_scheduler)


def _collect(dask_scheduler: Any) -> None:
    gc.collect()


def _release(dask_scheduler: Any) -> bool:
    """Garbage collected, then the C library's free pages handed back to the OS, so that the RSS
    read next is what is live; False where the C library has no ``malloc_trim`` (not glibc)."""
    gc.collect()
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return False
    trim(0)
    return True


def hold_graph(preset: SchedulerPreset, label: str, shape: str, size: int) -> GraphPoint:
    """A fresh scheduler with no workers, holding one graph: its RSS before and with it (as it
    sits, and live: its free pages handed back)."""
    graph = build_graph(shape, size)
    with scheduler_processes(preset, workers=0) as (client, pid):
        scheduler = psutil.Process(pid)
        client.run_on_scheduler(_release)
        time.sleep(SETTLE_S)
        before = scheduler.memory_info().rss
        started = time.monotonic()
        futures = client.get(graph.tasks, graph.keys, sync=False)
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while client.run_on_scheduler(_held_count) < len(graph.tasks):
            if time.monotonic() > deadline:
                raise SchedulerFailed(f"the scheduler under preset {label} did not hold the {shape} graph of "
                                      f"{len(graph.tasks):,} tasks within {HOLD_TIMEOUT_S} s")
            time.sleep(0.05)
        submit_s = time.monotonic() - started
        client.run_on_scheduler(_collect)
        time.sleep(SETTLE_S)
        held = scheduler.memory_info().rss
        logs = client.run_on_scheduler(measure_structures)["structures"]
        released = client.run_on_scheduler(_release)
        time.sleep(SETTLE_S)
        live = scheduler.memory_info().rss if released else None
        del futures
    return GraphPoint(preset=label, shape=shape, tasks=len(graph.tasks), edges=graph.edges,
                      rss_before_bytes=before, rss_held_bytes=held, rss_live_bytes=live,
                      logs_bytes=sum(size["bytes"] for size in logs.values()), submit_s=submit_s)


class Executed(NamedTuple):
    tasks: int
    transitions: int
    rss_start: int
    peak: int
    peak_method: str  # clear_refs (exact) or lifetime
    seconds: float


def execute_graph(preset: SchedulerPreset, shape: str, size: int) -> Executed:
    """The graph run on workers: the scheduler's RSS before it and its peak while it ran (exact
    where Linux lets the scheduler reset its peak), the transitions it made and the seconds."""
    graph = build_graph(shape, size)
    with scheduler_processes(preset, workers=EXECUTED_WORKERS) as (client, _pid):
        client.get_task_stream()  # as in the study's scenarios, whose logs the prediction uses
        start = client.run_on_scheduler(scheduler_memory, start=True)
        exact = start["peak_since"] == "case start"
        transitions = client.run_on_scheduler(transitions_made)
        started = time.monotonic()
        client.gather(client.get(graph.tasks, graph.keys, sync=False))
        seconds = time.monotonic() - started
        end = client.run_on_scheduler(scheduler_memory, exact=exact)
        transitions = client.run_on_scheduler(transitions_made) - transitions
    return Executed(len(graph.tasks), transitions, start["rss"], max(end["peak"], end["rss"]),
                    "clear_refs" if exact else "lifetime", seconds)


def run_ladder(presets: dict[str, SchedulerPreset], scenarios: dict[str, SchedulerScenario], sizes: list[int],
               shapes: list[str], save: Callable[[SchedulerLadder], None]) -> SchedulerLadder:
    """Every preset × shape × size held; the second-largest graph of each shape run on workers
    under each preset (what running adds), then the largest (predicted, checked); the ladder
    analysed anew and ``save`` called after every measurement."""
    points: list[GraphPoint] = []
    executed: list[ExecutedCheck] = []
    for label, preset in presets.items():
        for shape in shapes:
            for size in sorted(set(sizes)):
                print(f"scheduler ladder under {label}: {shape} graph of {size:,} tasks held ...", file=sys.stderr)
                points.append(hold_graph(preset, label, shape, size))
                save(analyse_ladder(points, executed, scenarios))
    # calibrated on the second-largest graph: what running adds is a few KB a task, beside fixed
    # costs (the workers' first messages) that a small graph would spread over too few tasks
    calibration = sorted(set(sizes))[-2]
    for role, size in (("calibration", calibration), ("check", max(sizes))):
        for label, preset in presets.items():
            for shape in shapes:
                print(f"scheduler ladder under {label}: {shape} graph of {size:,} tasks run on {EXECUTED_WORKERS} "
                      f"workers ({role}) ...", file=sys.stderr)
                run = execute_graph(preset, shape, size)
                executed.append(ExecutedCheck(
                    role=role, preset=label, shape=shape, tasks=run.tasks, workers=EXECUTED_WORKERS,
                    transitions=run.transitions, rss_start_bytes=run.rss_start, predicted_bytes=None,
                    peak_bytes=run.peak, peak_method=run.peak_method, seconds=run.seconds, error_percent=None))
                save(analyse_ladder(points, executed, scenarios))
    return analyse_ladder(points, executed, scenarios)
