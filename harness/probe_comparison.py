"""Accuracy and overhead of memreplay's per-task probe, side by side with dask-memusage.

(a) A ground-truth graph: tasks that each allocate and touch a known number of MiB for a known
    time; every probe's rows are compared with the truth, by duration bucket.
(b) A graph of many tiny tasks, run with no probe, with dask-memusage and with memreplay's
    probe, interleaved and repeated; medians and ratios of wall time.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.cluster import local_cluster
from harness.config import ClusterConfig
from harness.groundtruth import MIB, GroundTruthTask, allocate_and_hold, ground_truth_tasks
from harness.memusage import install as install_memreplay
from harness.probes.task_memory_csv import read_memusage_csv, read_task_rows
from harness.table import format_table

__all__ = [
    "DURATION_BUCKETS", "PROBES", "check_rows", "compare_accuracy", "compare_overhead", "install_dask_memusage",
    "render", "summarise_accuracy", "tolerance_bytes",
]

DURATION_BUCKETS = ((0.002, "<=2 ms"), (0.02, "<=20 ms"), (0.2, "<=200 ms"), (float("inf"), "> 200 ms"))


def _quiet_dask_memusage_thread(args: threading.ExceptHookArgs) -> None:
    # dask-memusage's polling thread never stops; it dies with a traceback when its cluster closes.
    if args.thread is None or args.thread.name != "WorkerMemory":
        threading.__excepthook__(args)


def install_dask_memusage(scheduler: Any, path: Path) -> None:
    import dask_memusage

    threading.excepthook = _quiet_dask_memusage_thread
    for name in ("distributed.utils", "distributed.client"):  # its client's reconnect noise at shutdown
        logging.getLogger(name).setLevel(logging.CRITICAL)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its polling thread uses a deprecated Thread API
        dask_memusage.install(scheduler, str(path))


PROBES: dict[str, Callable[[Any, Path], Any] | None] = {
    "none": None,
    "dask-memusage": install_dask_memusage,
    "memreplay": install_memreplay,
}


def tolerance_bytes(truth: int) -> float:
    """The accuracy goal: within max(1 MiB, 1 %) of the truth."""
    return max(MIB, 0.01 * truth)


def _cluster(workers: int, threads: int) -> Any:
    return local_cluster(ClusterConfig(n_workers=workers, threads_per_worker=threads, memory_limit=6 * 2**30))


def _measured(probe: str, path: Path) -> dict[str, tuple[int, int | None]]:
    """(peak increase in bytes, concurrent tasks) per task key, as each probe reports them."""
    if probe == "dask-memusage":
        return {key: (round((high - low) * MIB), None) for key, low, high in read_memusage_csv(path)
                if low is not None and high is not None}
    return {row["task_key"]: (row["peak_increase_bytes"], row["concurrent_tasks"]) for row in read_task_rows(path)
            if row["peak_increase_bytes"] is not None}


def _bucket(seconds: float) -> str:
    return next(label for limit, label in DURATION_BUCKETS if seconds <= limit)


def _run_ground_truth(probe: str, threads: int, tasks: list[GroundTruthTask], directory: Path) -> dict[str, Any]:
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
        rows.append({
            "key": task.key, "truth_bytes": truth, "seconds": task.seconds, "bucket": _bucket(task.seconds),
            "measured_bytes": value, "error_bytes": None if value is None else value - truth,
            "within_tolerance": value is not None and abs(value - truth) <= tolerance_bytes(truth),
            "at_least_truth": value is not None and value >= truth,
            "concurrent_tasks": concurrent,
        })
    return {"probe": probe, "threads": threads, "rows": rows}


def compare_accuracy(directory: Path, count: int = 40, max_mib: float = 500) -> list[dict[str, Any]]:
    tasks = ground_truth_tasks(count, seed=1, max_mib=max_mib)
    runs = []
    for threads in (1, 2):
        for probe in ("dask-memusage", "memreplay"):
            runs.append(_run_ground_truth(probe, threads, tasks, directory))
    return runs


def summarise_accuracy(run: dict[str, Any]) -> dict[str, Any]:
    rows = run["rows"]
    present = [r for r in rows if r["measured_bytes"] is not None]
    by_bucket = {}
    for _, label in DURATION_BUCKETS:
        members = [r for r in present if r["bucket"] == label]
        errors = [abs(r["error_bytes"]) / r["truth_bytes"] for r in members]
        by_bucket[label] = {
            "tasks": sum(r["bucket"] == label for r in rows),
            "rows": len(members),
            "median_relative_error": statistics.median(errors) if errors else None,
            "max_abs_error_bytes": max((abs(r["error_bytes"]) for r in members), default=None),
        }
    return {
        "probe": run["probe"], "threads": run["threads"], "tasks": len(rows), "rows_present": len(present),
        "within_tolerance": sum(r["within_tolerance"] for r in rows),
        "at_least_truth": sum(r["at_least_truth"] for r in rows),
        "overlapping_rows": sum((r["concurrent_tasks"] or 0) > 1 for r in rows),
        "worst_shortfall_bytes": max((r["truth_bytes"] - r["measured_bytes"] for r in present), default=None),
        "by_bucket": by_bucket,
    }


def _tiny(i: int) -> int:
    return i + 1


def compare_overhead(directory: Path, tasks: int = 10_000, repeats: int = 5) -> dict[str, Any]:
    """Wall time of ``tasks`` tiny tasks on 2 single-threaded workers, per probe, interleaved."""
    times: dict[str, list[float]] = {probe: [] for probe in PROBES}
    for repeat in range(repeats):
        for probe, install in PROBES.items():
            with _cluster(2, 1) as (cluster, client):
                if install is not None:
                    install(cluster.scheduler, directory / f"overhead-{probe}-{repeat}.csv")
                    time.sleep(1.0)  # both probes settle (dask-memusage connects its own client)
                client.gather(client.map(_tiny, range(100), key=[f"warm-{i}" for i in range(100)]))
                started = time.perf_counter()
                client.gather(client.map(_tiny, range(tasks), key=[f"tiny-{i}" for i in range(tasks)]))
                times[probe].append(time.perf_counter() - started)
    baseline = statistics.median(times["none"])
    return {
        "tasks": tasks, "repeats": repeats, "seconds": times,
        "median_seconds": {probe: statistics.median(values) for probe, values in times.items()},
        "overhead_ratio": {probe: statistics.median(values) / baseline for probe, values in times.items()},
        # each repeat ran every probe back to back: the median of per-repeat ratios cancels drift
        "paired_ratio_median": {
            probe: statistics.median(t / n for t, n in zip(values, times["none"])) for probe, values in times.items()
        },
    }


def check_rows(directory: Path, tasks: int = 100_000) -> dict[str, Any]:
    """Run ``tasks`` tiny tasks with memreplay's probe and count the rows that arrived."""
    path = directory / "rows-check.csv"
    with _cluster(2, 1) as (cluster, client):
        install_memreplay(cluster.scheduler, path)
        started = time.perf_counter()
        client.gather(client.map(_tiny, range(tasks), key=[f"row-{i}" for i in range(tasks)]))
        seconds = time.perf_counter() - started
    keys = {key for key, _, _ in read_memusage_csv(path)}
    missing = sum(f"row-{i}" not in keys for i in range(tasks))
    return {"tasks": tasks, "rows": len(keys), "missing": missing, "seconds": seconds}


def render(accuracy: list[dict[str, Any]], overhead: dict[str, Any], rows: dict[str, Any] | None = None) -> str:
    """The comparison as plain-text tables."""
    summaries = [summarise_accuracy(run) for run in accuracy]
    lines = ["Accuracy on the ground-truth graph (goal: within max(1 MiB, 1%) of the truth)", ""]
    lines.append(format_table(
        ("probe", "threads", "tasks", "rows", "within goal", ">= truth", "overlap rows", "worst shortfall"),
        [(s["probe"], s["threads"], s["tasks"], s["rows_present"], s["within_tolerance"], s["at_least_truth"],
          s["overlapping_rows"], _mib(s["worst_shortfall_bytes"])) for s in summaries],
    ))
    lines += ["", "Median relative error by task duration (rows present / tasks)", ""]
    lines.append(format_table(
        ("probe", "threads", *(label for _, label in DURATION_BUCKETS)),
        [(s["probe"], s["threads"], *(_bucket_cell(s["by_bucket"][label]) for _, label in DURATION_BUCKETS))
         for s in summaries],
    ))
    lines += ["", f"Overhead on {overhead['tasks']:,} tiny tasks, 2 workers x 1 thread, "
              f"{overhead['repeats']} interleaved repeats", ""]
    lines.append(format_table(
        ("probe", "median s", "ratio of medians", "median paired ratio"),
        [(probe, f"{overhead['median_seconds'][probe]:.3f}", f"{overhead['overhead_ratio'][probe]:.3f}",
          f"{overhead['paired_ratio_median'][probe]:.3f}") for probe in PROBES],
    ))
    if rows is not None:
        lines += ["", f"Rows: {rows['rows']:,} of {rows['tasks']:,} tasks have a row ({rows['missing']} missing), "
                  f"{rows['seconds']:.1f} s"]
    return "\n".join(lines)


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / MIB:.2f} MiB"


def _bucket_cell(bucket: dict[str, Any]) -> str:
    error = bucket["median_relative_error"]
    shown = "-" if error is None else f"{100 * error:.1f}%"
    return f"{shown} ({bucket['rows']}/{bucket['tasks']})"
