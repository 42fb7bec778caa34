"""Memory over time for every worker process and the scheduler, as a CSV and a PNG per case.

A thread in the driver samples each process's RSS with psutil (what memory_profiler's
``memory_usage(proc=pid)`` does, for all processes in one thread). The PNG marks, per task
prefix, the task with the largest peak, read from the case's ``tasks.csv`` when the per-task
probe wrote one.
"""

from __future__ import annotations

import csv
import os
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from harness.probes.base import ProbeContext
from harness.probes.task_memory_csv import read_task_rows

__all__ = ["TimelineProbe", "draw_timeline", "read_timeline"]

SCHEDULER = "scheduler"


class TimelineProbe:
    name = "timeline"
    csv_name = "timeline.csv"
    png_name = "timeline.png"

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._samples: list[tuple[float, str, int]] = []

    def start(self, cluster: Any, context: ProbeContext) -> None:
        self._case_dir = context.case_dir
        # LocalCluster's scheduler lives in this process; its workers in their own (or here too).
        pids = {SCHEDULER: os.getpid(), **self._worker_pids(cluster)}
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._started = time.time()
        self._thread = threading.Thread(target=self._sample, name="memreplay-timeline", daemon=True)
        self._thread.start()

    @staticmethod
    def _worker_pids(cluster: Any) -> dict[str, int]:
        pids = {}
        for worker in cluster.scheduler.workers.values():
            pid = worker.pid
            if pid:
                pids[worker.address] = pid
        return pids

    def _sample(self) -> None:
        while not self._stop.is_set():
            now = time.time() - self._started
            for name, process in list(self._processes.items()):
                try:
                    self._samples.append((now, name, process.memory_info().rss))
                except psutil.Error:  # the process ended (e.g. a worker killed for memory)
                    del self._processes[name]
            self._stop.wait(self.interval_s)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        path = self._case_dir / self.csv_name
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("time_s", "process", "rss_bytes"))
            writer.writerows((f"{t:.3f}", name, rss) for t, name, rss in self._samples)
        tasks = self._case_dir / "tasks.csv"
        draw_timeline(path, self._case_dir / self.png_name, tasks if tasks.exists() else None, self._started)
        processes = sorted({name for _, name, _ in self._samples})
        return {
            "csv": self.csv_name,
            "png": self.png_name,
            "samples": len(self._samples),
            "processes": processes,
            "peak_rss_bytes": {name: max(rss for _, n, rss in self._samples if n == name) for name in processes},
        }


def read_timeline(path: Path) -> list[tuple[float, str, int]]:
    with open(path, newline="") as handle:
        return [(float(r["time_s"]), r["process"], int(r["rss_bytes"])) for r in csv.DictReader(handle)]


def draw_timeline(timeline_csv: Path, png: Path, tasks_csv: Path | None, started: float) -> None:
    """RSS over time per process; a marker at each task prefix's largest peak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = read_timeline(timeline_csv)
    figure, axes = plt.subplots(figsize=(10, 5))
    for name in sorted({n for _, n, _ in samples}):
        points = [(t, rss / 2**20) for t, n, rss in samples if n == name]
        axes.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1)
    if tasks_csv is not None:
        largest: dict[str, dict[str, Any]] = {}
        for row in read_task_rows(tasks_csv):
            if row["peak_bytes"] and row["stop"] and row["peak_increase_bytes"] is not None:
                best = largest.get(row["task_prefix"])
                if best is None or row["peak_increase_bytes"] > best["peak_increase_bytes"]:
                    largest[row["task_prefix"]] = row
        for prefix, row in largest.items():
            x, y = row["stop"] - started, row["peak_bytes"] / 2**20
            axes.plot([x], [y], marker="v", color="black")
            axes.annotate(f"{prefix} peak", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axes.set_xlabel("seconds since the case started")
    axes.set_ylabel("RSS (MiB)")
    axes.set_title(f"Memory timeline: {png.parent.name}")
    axes.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(png, dpi=100)
    plt.close(figure)
