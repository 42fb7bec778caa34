"""Accuracy and overhead of memreplay's per-task probe, side by side with dask-memusage
(``memreplay probe``).

(a) A ground-truth graph: tasks that each allocate and touch a known number of MiB for a known
    time; every probe's rows are compared with the truth.
(b) A graph of many tiny tasks, run with no probe, with memreplay's probe, with the memory
    timeline and with dask-memusage, every arm on one cluster between unprobed runs, repeated on
    fresh clusters; medians and ratios of wall time.
(c) Many tiny tasks with memreplay's probe: does every task get a row?
(d) At scale: 100,000 tiny tasks on a scheduler process of its own, without a probe and with the
    collectors a case installs, both arms on each process: the wall-time ratio, and the
    scheduler's growth and the collectors' own state per task row once the graph is gone.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import statistics
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from memreplay.analysis.probe_accuracy import duration_bucket, tolerance_bytes
from memreplay.compat import held_task_count, live_clients, scheduler_plugin
from memreplay.errors import UserError
from memreplay.execute.cluster import local_cluster
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.probes.base import Probe, ProbeContext
from memreplay.probes.task_memory import TaskMemoryProbe, install_collector
from memreplay.probes.timeline import TimelineProbe
from memreplay.records.schema import (
    AccuracyRun,
    Overhead,
    ProbeAccuracySettings,
    ProbeRecord,
    RowsCheck,
    ScaleOverhead,
    TruthRow,
)
from memreplay.records.store import RunDirectory, new_record_fields
from memreplay.records.task_rows import MIB, iter_task_rows, read_memusage_csv
from memreplay.studies.groundtruth import GroundTruthTask, allocate_and_hold, ground_truth_tasks

__all__ = ["OVERHEAD_ARMS", "PROBES", "check_rows", "compare_accuracy", "compare_at_scale", "compare_overhead",
           "dask_memusage_quieted",
           "install_dask_memusage", "run_probe_benchmark"]


_DASK_MEMUSAGE_SCHEDULERS: set[str] = set()  # where dask-memusage's own clients connect


@contextlib.contextmanager
def dask_memusage_quieted() -> Iterator[None]:
    """dask-memusage's polling thread never stops and dies with a traceback when its cluster
    closes, and its client logs reconnect noise: hush both while it runs (its clusters must
    close inside), wait for its threads to end, and put every process-wide setting back."""
    def excepthook(args: threading.ExceptHookArgs) -> None:
        if args.thread is None or args.thread.name != "WorkerMemory":
            previous_hook(args)

    previous_hook = threading.excepthook
    loggers = [logging.getLogger(name) for name in ("distributed.utils", "distributed.client")]
    levels = [logger.level for logger in loggers]
    threading.excepthook = excepthook
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for client in live_clients():  # its client would retry its closed cluster for 30 s
            if client.scheduler is not None and client.scheduler.address in _DASK_MEMUSAGE_SCHEDULERS:
                client.close(timeout=5)
        for thread in threading.enumerate():
            if thread.name == "WorkerMemory":  # its polling thread ends once its client is closed
                thread.join(timeout=10)
        _DASK_MEMUSAGE_SCHEDULERS.clear()
        threading.excepthook = previous_hook
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def install_dask_memusage(scheduler: Any, path: Path) -> None:
    import dask_memusage

    _DASK_MEMUSAGE_SCHEDULERS.add(scheduler.address)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # its polling thread uses a deprecated Thread API
        dask_memusage.install(scheduler, str(path))


PROBES: dict[str, Callable[[Any, Path], Any]] = {  # the accuracy study's: installed on a fresh cluster
    "dask-memusage": install_dask_memusage,
    "memreplay": install_collector,
}


# The overhead benchmark's arms: memreplay's, each the probes it starts, started and stopped as a
# case does on a running cluster, so one cluster runs them all; the timeline's two arms' ratio is
# what seeing spilling and pausing costs. dask-memusage cannot be removed: it runs last.
ARM_PROBES: dict[str, Callable[[], list[Probe]]] = {
    "memreplay": lambda: [TaskMemoryProbe()],
    "timeline-rss": lambda: [TimelineProbe(memory_manager=False)],
    "timeline": lambda: [TimelineProbe()],
}
REMOVABLE_ARMS = tuple(ARM_PROBES)
OVERHEAD_ARMS = ("none", *REMOVABLE_ARMS, "dask-memusage")


def _started(probes: list[Probe], client: Any, case_dir: Path) -> list[Probe]:
    """``probes`` started on ``client``'s running cluster, writing into ``case_dir``."""
    case_dir.mkdir(parents=True, exist_ok=True)
    for probe in probes:
        probe.start(client, ProbeContext(case_dir=case_dir))
    return probes


def _cluster(workers: int, threads: int) -> Any:
    return local_cluster(ClusterConfig(n_workers=workers, threads_per_worker=threads, memory_limit=6 * 2**30))


def _measured(probe: str, path: Path) -> dict[str, tuple[int, int | None]]:
    """(peak increase in bytes, concurrent tasks) per task key, as each probe reports them."""
    if probe == "dask-memusage":
        return {key: (round((high - low) * MIB), None) for key, low, high in read_memusage_csv(path)
                if low is not None and high is not None}
    return {row.task_key: (row.peak_increase_bytes, row.concurrent_tasks) for row in iter_task_rows(path)
            if row.peak_increase_bytes is not None}


def _run_ground_truth(probe: str, threads: int, tasks: list[GroundTruthTask], directory: Path) -> AccuracyRun:
    path = directory / f"truth-{probe}-threads{threads}.csv"
    with _cluster(1, threads) as (cluster, client):
        PROBES[probe](cluster.scheduler, path)
        if probe == "dask-memusage":
            time.sleep(1.0)  # its polling thread connects its own client first
        futures = [client.submit(allocate_and_hold, t.mib, t.seconds, key=t.key) for t in tasks]
        client.gather(futures)
        time.sleep(0.5)  # let the last rows reach the scheduler before the cluster closes
    measured = _measured(probe, path)
    rows = []
    for task in tasks:
        truth = int(task.mib * MIB)
        value, concurrent = measured.get(task.key, (None, None))
        rows.append(TruthRow(
            key=task.key, truth_bytes=truth, seconds=task.seconds, bucket=duration_bucket(task.seconds),
            measured_bytes=value, error_bytes=None if value is None else value - truth,
            within_tolerance=value is not None and abs(value - truth) <= tolerance_bytes(truth),
            at_least_truth=value is not None and value >= truth,
            concurrent_tasks=concurrent,
        ))
    return AccuracyRun(probe=probe, threads=threads, rows=rows)


def compare_accuracy(directory: Path, count: int = 40, max_mib: float = 500) -> list[AccuracyRun]:
    tasks = ground_truth_tasks(count, seed=1, max_mib=max_mib)
    return [_run_ground_truth(probe, threads, tasks, directory)
            for threads in (1, 2) for probe in ("dask-memusage", "memreplay")]


def _tiny(i: int) -> int:
    return i + 1


def _warm(client: Any) -> None:
    client.gather(client.map(_tiny, range(100), key=[f"warm-{i}" for i in range(100)]))


def _timed(client: Any, tasks: int, label: str, first: int = 0) -> float:
    """Seconds to compute ``tasks`` tiny tasks (keys from ``first``), after the same settle time in
    every arm (dask-memusage connects its own client)."""
    time.sleep(1.0)
    numbers = range(first, first + tasks)
    started = time.perf_counter()
    client.gather(client.map(_tiny, numbers, key=[f"{label}-{i}" for i in numbers]))
    return time.perf_counter() - started


# A round runs one block of every arm; the unprobed arm twice (none, none-again: their ratio is
# the noise floor), apart, so that each probed arm has an unprobed one near it in every order.
_ROUND = ("none", "memreplay", "timeline-rss", "none-again", "timeline")


def compare_overhead(directory: Path, tasks: int = 10_000, repeats: int = 5, blocks: int = 5) -> Overhead:
    """Wall time of ``tasks`` tiny tasks on 2 single-threaded workers, per arm. Each repeat is one
    fresh cluster. An arm's ``tasks`` run in ``blocks`` blocks, one in each round, and every round
    runs one block of every arm (memreplay's started and stopped as a case does), in an order that
    rotates from round to round: on a machine whose speed drifts from one minute to the next, each
    arm's total meets the same spells as the others'. An arm's paired ratio is its total over the
    unprobed total of the same repeat; none's, its second series over its first, is the noise
    floor. dask-memusage, which cannot be removed, runs last, its ``tasks`` at once, over an
    unprobed run of as many just before it."""
    if blocks < 1 or tasks < blocks:
        raise ValueError(f"{tasks} tasks cannot run in {blocks} blocks")
    sizes = [tasks // blocks + (1 if block < tasks % blocks else 0) for block in range(blocks)]
    times: dict[str, list[float]] = {arm: [] for arm in OVERHEAD_ARMS}
    paired: dict[str, list[float]] = {arm: [] for arm in OVERHEAD_ARMS}
    for repeat in range(repeats):
        total = dict.fromkeys(_ROUND, 0.0)
        with _cluster(2, 1) as (cluster, client):
            _warm(client)
            first = 0
            for block, size in enumerate(sizes):
                turn = (repeat + block) % len(_ROUND)
                for arm in _ROUND[turn:] + _ROUND[:turn]:
                    probes = ([] if arm.startswith("none") else
                              _started(ARM_PROBES[arm](), client, directory / f"overhead-{arm}-{repeat}-{block}"))
                    total[arm] += _timed(client, size, f"{arm}-{repeat}", first)
                    for probe in probes:
                        probe.stop("ok")
                first += size
            unprobed = _timed(client, tasks, f"none-{repeat}-last")
            install_dask_memusage(cluster.scheduler, directory / f"overhead-dask-memusage-{repeat}.csv")
            took = _timed(client, tasks, f"dask-memusage-{repeat}")
        plain = (total["none"] + total["none-again"]) / 2
        for arm in REMOVABLE_ARMS:
            times[arm].append(total[arm])
            paired[arm].append(total[arm] / plain)
        times["none"] += [total["none"], total["none-again"]]
        paired["none"].append(total["none-again"] / total["none"])
        times["dask-memusage"].append(took)
        paired["dask-memusage"].append(took / unprobed)
    baseline = statistics.median(times["none"])
    return Overhead(
        tasks=tasks, repeats=repeats, blocks=blocks, seconds=times,
        median_seconds={arm: statistics.median(values) for arm, values in times.items()},
        overhead_ratio={arm: statistics.median(values) / baseline for arm, values in times.items()},
        paired_ratio_median={arm: statistics.median(values) for arm, values in paired.items()},
        paired_ratios=paired,
    )


def _collectors_held(dask_scheduler: Any) -> int:
    from memreplay.probes.task_memory_worker import PLUGIN_NAME as TASKS
    from memreplay.probes.timeline_collector import PLUGIN_NAME as TIMELINE

    scheduler_plugin(dask_scheduler, TASKS).flush()  # what it keeps, not the last half second's rows on their way
    return sum(scheduler_plugin(dask_scheduler, name).held_bytes() for name in (TASKS, TIMELINE))


def _forgotten(dask_scheduler: Any) -> bool:
    import gc

    gc.collect()
    return held_task_count(dask_scheduler) == 0


def compare_at_scale(directory: Path, tasks: int = 100_000, repeats: int = 2) -> ScaleOverhead:
    """``tasks`` tiny tasks on 2 single-threaded workers of a ``dask scheduler`` process, without
    a probe and with the per-task rows and the timeline as a case installs them. Each repeat is
    one fresh process running both arms, the first of them alternating: the wall-time ratio pairs
    the arms of one process. The scheduler's growth (its RSS once the graph is forgotten, less
    before it) is the first arm's: a second graph reuses what the allocator kept of the first."""
    from memreplay.plan.distributed_config import SchedulerPreset
    from memreplay.studies.scheduler import scheduler_processes

    if repeats < 2:
        raise ValueError("the at-scale arm needs 2 repeats: the scheduler's growth is each process's first arm's")
    preset = SchedulerPreset(name="installed", source="the installed distributed", settings={})
    seconds: dict[str, list[float]] = {"none": [], "memreplay": []}
    growth: dict[str, list[int]] = {"none": [], "memreplay": []}
    held: list[int] = []
    for repeat in range(repeats):
        arms = ("none", "memreplay") if repeat % 2 == 0 else ("memreplay", "none")
        with scheduler_processes(preset, workers=2) as (client, pid):
            scheduler = psutil.Process(pid)
            _warm(client)
            for arm in arms:  # memreplay: the per-task rows and the timeline, as a case installs them
                probes = ([] if arm == "none" else
                          _started([TaskMemoryProbe(), TimelineProbe()], client, directory / f"scale-{repeat}"))
                client.run_on_scheduler(_forgotten)
                before = scheduler.memory_info().rss
                seconds[arm].append(_timed(client, tasks, f"scale-{arm}"))
                deadline = time.monotonic() + 300
                while not client.run_on_scheduler(_forgotten):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the scheduler still held tasks 300 s after the {arm} arm's graph")
                    time.sleep(0.1)
                if arm == arms[0]:
                    growth[arm].append(scheduler.memory_info().rss - before)
                if probes:
                    held.append(client.run_on_scheduler(_collectors_held))
                    for probe in probes:
                        probe.stop("ok")
    ratios = [probed / plain for probed, plain in zip(seconds["memreplay"], seconds["none"])]
    return ScaleOverhead(
        tasks=tasks, repeats=repeats, seconds=seconds, paired_ratio_median=statistics.median(ratios),
        paired_ratio_range=(min(ratios), max(ratios)), growth_bytes=growth,
        growth_per_row_bytes=(statistics.median(growth["memreplay"]) - statistics.median(growth["none"])) / tasks,
        held_bytes=held, held_per_row_bytes=max(held) / tasks, arms_per_process=2)


def check_rows(directory: Path, tasks: int = 100_000) -> RowsCheck:
    """Run ``tasks`` tiny tasks with memreplay's probe and count the rows that arrived."""
    path = directory / "rows-check.csv"
    with _cluster(2, 1) as (cluster, client):
        install_collector(cluster.scheduler, path)
        started = time.perf_counter()
        client.gather(client.map(_tiny, range(tasks), key=[f"row-{i}" for i in range(tasks)]))
        seconds = time.perf_counter() - started
    keys = {key for key, _, _ in read_memusage_csv(path)}
    missing = sum(f"row-{i}" not in keys for i in range(tasks))
    return RowsCheck(tasks=tasks, rows=len(keys), missing=missing, seconds=seconds)


def run_probe_benchmark(results: Path, truth_tasks: int = 40, tiny_tasks: int = 10_000, repeats: int = 5,
                        rows_tasks: int = 100_000, scale_tasks: int = 100_000,
                        scale_repeats: int = 2, blocks: int = 5) -> RunDirectory[ProbeRecord]:
    """The four stages, the record saved after each, so a stage already measured survives a
    later failure."""
    if importlib.util.find_spec("dask_memusage") is None:
        raise UserError("memreplay probe compares with dask-memusage, which is not installed: "
                        "pip install 'memreplay[comparison]' (nox -s bench-probe does)")
    for name, value, least in (("--truth-tasks", truth_tasks, 1), ("--tiny-tasks", tiny_tasks, 1),
                               ("--repeats", repeats, 1), ("--rows-tasks", rows_tasks, 0),
                               ("--scale-tasks", scale_tasks, 0), ("--scale-repeats", scale_repeats, 2),
                               ("--blocks", blocks, 1)):
        if value < least:
            raise UserError(f"{name}: must be at least {least}, got {value}")
    if blocks > tiny_tasks:
        raise UserError(f"--blocks: {blocks} blocks of {tiny_tasks:,} tiny tasks leave some empty "
                        "(at most --tiny-tasks)")
    settings = ProbeAccuracySettings(truth_tasks=truth_tasks, tiny_tasks=tiny_tasks, repeats=repeats,
                                     rows_tasks=rows_tasks, scale_tasks=scale_tasks, scale_repeats=scale_repeats,
                                     blocks=blocks)
    run = RunDirectory.create(results, "probe", ProbeRecord(settings=settings, **new_record_fields()))
    directory = run.case_directory("csv")
    with dask_memusage_quieted():
        print("ground-truth graph: dask-memusage and memreplay, threads 1 and 2 ...", file=sys.stderr)
        run.record.accuracy = compare_accuracy(directory, count=truth_tasks)
        run.save()
        print(f"overhead: {tiny_tasks:,} tiny tasks x {repeats} repeats x {len(OVERHEAD_ARMS)} arms, "
              f"in {blocks} rounds ...", file=sys.stderr)
        run.record.overhead = compare_overhead(directory, tasks=tiny_tasks, repeats=repeats, blocks=blocks)
        run.save()
    if rows_tasks:
        print(f"rows: {rows_tasks:,} tiny tasks with memreplay's probe ...", file=sys.stderr)
        run.record.rows = check_rows(directory, tasks=rows_tasks)
        run.save()
    if scale_tasks:
        print(f"at scale: {scale_tasks:,} tiny tasks x {scale_repeats} repeats, without a probe and with the "
              "collectors, on a scheduler process ...", file=sys.stderr)
        run.record.at_scale = compare_at_scale(directory, tasks=scale_tasks, repeats=scale_repeats)
        run.save()
    return run
