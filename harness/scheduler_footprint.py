"""The scheduler's own memory under a sustained load, structure by structure.

The scheduler runs in its own process (``dask scheduler``), as in production, with real
``dask worker`` processes. A client drives batches of tiny tasks until the scheduler has made
at least N transitions, then leaves the cluster idle (heartbeats, system-monitor samples),
then measures, inside the scheduler process, each log structure's entry count and deep size
(``harness.deepsize``, which follows deque items), and its RSS.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from harness.deepsize import deep_size
from harness.scheduler_config import SchedulerProfile, log_settings, to_environment

__all__ = ["PUBLISHED_BYTES_PER_ENTRY", "log_structures", "measure_structures", "run_scenario"]

# A published estimate, for comparison: bytes per entry at least.
PUBLISHED_BYTES_PER_ENTRY = {"transition_log": 368, "events": 304}
BATCH = 5_000


def log_structures(scheduler: Any) -> dict[str, Any]:
    """The scheduler's bounded logs, by name, wherever this version of distributed keeps them."""
    structures: dict[str, Any] = {"transition_log": getattr(scheduler, "transition_log", None)}
    broker = getattr(scheduler, "_broker", None)
    if broker is not None:  # 2023.9.3 and later: a Broker of topics
        structures["events"] = {name: topic.events for name, topic in broker._topics.items()}
    else:
        structures["events"] = dict(getattr(scheduler, "events", {}))
    stream = scheduler.plugins.get("task-stream")
    structures["task_stream"] = getattr(stream, "buffer", None)
    structures["computations"] = getattr(scheduler, "computations", None)
    structures["erred_tasks"] = getattr(scheduler, "erred_tasks", None)
    handler = getattr(scheduler, "_deque_handler", None)
    structures["log_records"] = getattr(handler, "deque", None)
    monitor = getattr(scheduler, "monitor", None)
    structures["system_monitor"] = getattr(monitor, "quantities", None)
    return {name: value for name, value in structures.items() if value is not None}


def _entries(structure: Any) -> int:
    if isinstance(structure, dict):  # events by topic, monitor quantities by name
        return sum(len(value) for value in structure.values())
    return len(structure)


def measure_structures(dask_scheduler: Any) -> dict[str, Any]:
    """Run inside the scheduler (``client.run_on_scheduler``): entries and deep bytes per log."""
    import dask

    gc.collect()
    seen: set[int] = set()  # objects shared between logs count once, in the first
    result = {name: {"entries": _entries(value), "bytes": deep_size(value, seen)}
              for name, value in log_structures(dask_scheduler).items()}
    return {"structures": result, "settings": log_settings(),
            "transitions": int(getattr(dask_scheduler, "transition_counter", 0)),
            "pid": os.getpid(), "dask": dask.__version__}


def _inc(i: int) -> int:
    return i + 1


def _command(name: str) -> list[str]:
    return [str(Path(sys.executable).with_name("dask")), name]


class _RssSampler:
    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append((round(time.monotonic() - self._started, 2), self.process.memory_info().rss))
            except psutil.Error:
                return
            self._stop.wait(0.25)

    def stop(self) -> list[tuple[float, int]]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples


def _dashboard_flag() -> list[str]:
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return ["--no-dashboard"]
    return ["--dashboard-address", "127.0.0.1:0"]


def run_scenario(profile: SchedulerProfile, transitions: int, idle_s: float, workers: int = 2) -> dict[str, Any]:
    """One scheduler process under ``profile``: load, idle, measure."""
    from distributed import Client

    workdir = Path(tempfile.mkdtemp(prefix="memreplay-scheduler-"))
    scheduler_file = workdir / "scheduler.json"
    env = {**os.environ, **to_environment(profile.settings)}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    processes = [subprocess.Popen([*_command("scheduler"), "--host", "127.0.0.1", "--scheduler-file",
                                   str(scheduler_file), *_dashboard_flag()], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(workers):
            processes.append(subprocess.Popen([*_command("worker"), "--scheduler-file", str(scheduler_file),
                                               "--nthreads", "1", "--no-dashboard"], **quiet))
        with Client(scheduler_file=str(scheduler_file), timeout=60) as client:
            client.wait_for_workers(workers, timeout=60)
            client.get_task_stream()  # the dashboard's task stream exists once something asks for it
            pid = client.run_on_scheduler(os.getpid)
            sampler = _RssSampler(pid)
            rss_start = psutil.Process(pid).memory_info().rss
            started, batch = time.monotonic(), 0
            while client.run_on_scheduler(_transition_count) < transitions:
                keys = [f"load-{batch}-{i}" for i in range(BATCH)]
                client.gather(client.map(_inc, range(BATCH), key=keys))
                batch += 1
            load_s = time.monotonic() - started
            time.sleep(idle_s)
            measured = client.run_on_scheduler(measure_structures)
            rss_end = psutil.Process(pid).memory_info().rss
            timeline = sampler.stop()
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return {
        "profile": profile.describe(), "tasks": batch * BATCH, "load_s": round(load_s, 2), "idle_s": idle_s,
        "rss_start_bytes": rss_start, "rss_end_bytes": rss_end, "rss_timeline": timeline, **measured,
    }


def _transition_count(dask_scheduler: Any) -> int:
    return int(getattr(dask_scheduler, "transition_counter", 0))
