"""Accuracy and overhead of memreplay's per-task probe, side by side with dask-memusage
(``memreplay probe``).

(a) A ground-truth graph: tasks that each allocate and touch a known number of MiB for a known
    time; every probe's rows are compared with the truth.
(b) A graph of many tiny tasks, run with no probe, with dask-memusage and with memreplay's
    probe, interleaved and repeated; medians and ratios of wall time.
(c) Many tiny tasks with memreplay's probe: does every task get a row?
(d) At scale: 100,000 tiny tasks on a scheduler process of its own, without a probe and with the
    collectors a case installs, interleaved: the wall-time ratio, and the scheduler's growth and
    the collectors' own state per task row once the graph is gone.
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
from memreplay.probes.task_memory import install_collector
from memreplay.probes.timeline_collector import install_timeline
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


PROBES: dict[str, Callable[[Any, Path], Any] | None] = {
    "none": None,
    "dask-memusage": install_dask_memusage,
    "memreplay": install_collector,
}


def _timeline(memory_manager: bool) -> Callable[[Any, Path], None]:
    """The memory timeline on an in-process scheduler: RSS samples only, or with the memory
    manager's figures on every sample (what a case runs to see spilling and pausing)."""
    def install(scheduler: Any, path: Path) -> None:
        from distributed.utils import sync

        sync(scheduler.loop, install_timeline, scheduler, 0.05, memory_manager)

    return install


# The overhead benchmark also times the timeline with and without the memory manager's figures:
# their ratio is what seeing spilling and pausing costs.
OVERHEAD_ARMS: dict[str, Callable[[Any, Path], Any] | None] = {
    **PROBES, "timeline-rss": _timeline(memory_manager=False), "timeline": _timeline(memory_manager=True),
}


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


def compare_overhead(directory: Path, tasks: int = 10_000, repeats: int = 5) -> Overhead:
    """Wall time of ``tasks`` tiny tasks on 2 single-threaded workers, per probe, interleaved."""
    times: dict[str, list[float]] = {probe: [] for probe in OVERHEAD_ARMS}
    for repeat in range(repeats):
        for probe, install in OVERHEAD_ARMS.items():
            with _cluster(2, 1) as (cluster, client):
                if install is not None:
                    install(cluster.scheduler, directory / f"overhead-{probe}-{repeat}.csv")
                # every arm alike, "none" too: the same settle time (dask-memusage connects its own
                # client), the same warm-up, then only the compute is timed
                time.sleep(1.0)
                client.gather(client.map(_tiny, range(100), key=[f"warm-{i}" for i in range(100)]))
                started = time.perf_counter()
                client.gather(client.map(_tiny, range(tasks), key=[f"tiny-{i}" for i in range(tasks)]))
                times[probe].append(time.perf_counter() - started)
    baseline = statistics.median(times["none"])
    return Overhead(
        tasks=tasks, repeats=repeats, seconds=times,
        median_seconds={probe: statistics.median(values) for probe, values in times.items()},
        overhead_ratio={probe: statistics.median(values) / baseline for probe, values in times.items()},
        # each repeat ran every probe back to back: the median of per-repeat ratios cancels drift
        paired_ratio_median={
            probe: statistics.median(t / n for t, n in zip(values, times["none"])) for probe, values in times.items()
        },
    )


def _collectors_held(dask_scheduler: Any) -> int:
    from memreplay.probes.task_memory_worker import PLUGIN_NAME as TASKS
    from memreplay.probes.timeline_collector import PLUGIN_NAME as TIMELINE

    return sum(scheduler_plugin(dask_scheduler, name).held_bytes() for name in (TASKS, TIMELINE))


def _forgotten(dask_scheduler: Any) -> bool:
    import gc

    gc.collect()
    return held_task_count(dask_scheduler) == 0


def compare_at_scale(directory: Path, tasks: int = 100_000, repeats: int = 2) -> ScaleOverhead:
    """``tasks`` tiny tasks on 2 single-threaded workers of a ``dask scheduler`` process, without
    a probe and with the per-task rows and the timeline, interleaved; the scheduler's RSS before
    the graph and after it is forgotten."""
    from memreplay.plan.distributed_config import SchedulerPreset
    from memreplay.probes.task_memory import finish_case, install_for_case
    from memreplay.probes.timeline_collector import finish_timeline, install_timeline
    from memreplay.studies.scheduler import scheduler_processes

    preset = SchedulerPreset(name="installed", source="the installed distributed", settings={})
    seconds: dict[str, list[float]] = {"none": [], "memreplay": []}
    growth: dict[str, list[int]] = {"none": [], "memreplay": []}
    held: list[int] = []
    for repeat in range(repeats):
        for arm in ("none", "memreplay") if repeat % 2 == 0 else ("memreplay", "none"):  # neither always first
            with scheduler_processes(preset, workers=2) as (client, pid):
                scheduler = psutil.Process(pid)
                if arm == "memreplay":
                    client.run_on_scheduler(install_for_case, csv_path=str(directory / f"scale-{repeat}.csv"),
                                            method="auto", input_hints=[])
                    client.run_on_scheduler(install_timeline, interval_s=0.05)
                time.sleep(1.0)
                client.gather(client.map(_tiny, range(100), key=[f"warm-{i}" for i in range(100)]))
                client.run_on_scheduler(_forgotten)
                before = scheduler.memory_info().rss
                started = time.perf_counter()
                futures = client.map(_tiny, range(tasks), key=[f"scale-{i}" for i in range(tasks)])
                client.gather(futures)
                seconds[arm].append(time.perf_counter() - started)
                del futures
                deadline = time.monotonic() + 300
                while not client.run_on_scheduler(_forgotten):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the scheduler still held tasks 300 s after the {arm} arm's graph")
                    time.sleep(0.1)
                growth[arm].append(scheduler.memory_info().rss - before)
                if arm == "memreplay":
                    held.append(client.run_on_scheduler(_collectors_held))
                    client.run_on_scheduler(finish_timeline)
                    client.run_on_scheduler(finish_case, state="unfinished", hand_back=False)
    ratios = [probed / plain for probed, plain in zip(seconds["memreplay"], seconds["none"])]
    return ScaleOverhead(
        tasks=tasks, repeats=repeats, seconds=seconds, paired_ratio_median=statistics.median(ratios),
        paired_ratio_range=(min(ratios), max(ratios)), growth_bytes=growth,
        growth_per_row_bytes=(statistics.median(growth["memreplay"]) - statistics.median(growth["none"])) / tasks,
        held_bytes=held, held_per_row_bytes=max(held) / tasks)


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
                        scale_repeats: int = 2) -> RunDirectory[ProbeRecord]:
    """The four stages, the record saved after each, so a stage already measured survives a
    later failure."""
    if importlib.util.find_spec("dask_memusage") is None:
        raise UserError("memreplay probe compares with dask-memusage, which is not installed: "
                        "pip install 'memreplay[comparison]' (nox -s bench-probe does)")
    for name, value, least in (("--truth-tasks", truth_tasks, 1), ("--tiny-tasks", tiny_tasks, 1),
                               ("--repeats", repeats, 1), ("--rows-tasks", rows_tasks, 0),
                               ("--scale-tasks", scale_tasks, 0), ("--scale-repeats", scale_repeats, 1)):
        if value < least:
            raise UserError(f"{name}: must be at least {least}, got {value}")
    settings = ProbeAccuracySettings(truth_tasks=truth_tasks, tiny_tasks=tiny_tasks, repeats=repeats,
                                     rows_tasks=rows_tasks, scale_tasks=scale_tasks, scale_repeats=scale_repeats)
    run = RunDirectory.create(results, "probe", ProbeRecord(settings=settings, **new_record_fields()))
    directory = run.case_directory("csv")
    with dask_memusage_quieted():
        print("ground-truth graph: dask-memusage and memreplay, threads 1 and 2 ...", file=sys.stderr)
        run.record.accuracy = compare_accuracy(directory, count=truth_tasks)
        run.save()
        print(f"overhead: {tiny_tasks:,} tiny tasks x {repeats} repeats x {len(OVERHEAD_ARMS)} arms ...",
              file=sys.stderr)
        run.record.overhead = compare_overhead(directory, tasks=tiny_tasks, repeats=repeats)
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
