"""Worker side of the per-task memory probe: measures around every task execution.

When a task starts executing, the process's peak is read (and folded into every task still
running), then reset; when it stops, the peak is read again and one small message goes to the
scheduler on the worker's batched stream, where the collector writes the CSV row. A task still
running after ``ANNOUNCE_AFTER_S`` (50 ms) is announced with a start message too, so that a worker
that dies mid-task still leaves its row (one that dies sooner than that after the task started
leaves none for it); the many short tasks cost one message each, not two, and
one timer serves every running task (not a timer per task).

A stop message carries its figures as a list in the order of :data:`STOP_FIELDS`: the scheduler
handles one per task of the whole graph, and a list is cheaper to pack and unpack than a dict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from memreplay.compat import worker_call_later, worker_incoming_bytes, worker_sender, worker_task_states
from memreplay.probes.meter import PeakMeter, open_meter

__all__ = ["ANNOUNCE_AFTER_S", "OP_TASK_START", "OP_TASK_STOP", "PLUGIN_NAME", "STOP_FIELDS", "TaskMemoryWorkerPlugin",
           "key_name"]

PLUGIN_NAME = "memreplay-task-memory"
OP_TASK_START = "memreplay-task-start"
OP_TASK_STOP = "memreplay-task-stop"
_EXECUTING = ("executing", "long-running")
# A task running longer than this sends a start message too. Not shorter: under a run of tiny
# tasks the announcer's timer is re-armed as each one starts, and at 5 ms those wake-ups slowed a
# worker by about 6 % (4 paired runs of 20,000 tasks, 1.04-1.09, against 0.88-1.00 with no timer).
ANNOUNCE_AFTER_S = 0.05
STOP_FIELDS = ("key", "name", "index", "start", "stop", "baseline", "peak", "increase", "input_bytes",
               "output_bytes", "concurrent", "arrived", "method", "state")


def key_name(key: Any) -> str:
    """The name part of a dask key: ``('sum-abc', 0)`` → ``'sum-abc'``."""
    return str(key[0]) if isinstance(key, tuple) and key else str(key)


@dataclass(slots=True)
class _Running:
    start: float
    baseline: int  # RSS when the task started
    lowest: int  # lowest RSS seen at any boundary while it ran
    peak: int
    concurrent: int  # most tasks executing at once in this process during this task
    input_bytes: int
    arrived: int = 0  # bytes of other tasks' outputs received from other workers while it ran
    announced: bool = False  # its start message sent


class TaskMemoryWorkerPlugin(WorkerPlugin):
    name = PLUGIN_NAME
    idempotent = True

    def __init__(self, method: str = "auto") -> None:
        self.method = method

    def setup(self, worker: Any) -> None:
        # distributed's internals, looked up (and checked) once, not on every task
        self._tasks = worker_task_states(worker)
        self._send = worker_sender(worker)
        self._call_later = worker_call_later(worker)
        self._incoming = worker_incoming_bytes(worker)
        self._meter: PeakMeter = open_meter(self.method)
        self._running: dict[Any, _Running] = {}
        self._announcer: Any = None  # the one pending timer that announces long-running tasks

    def teardown(self, worker: Any) -> None:
        if self._announcer is not None:
            self._announcer.cancel()
        self._meter.close()

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        if finish in _EXECUTING and start not in _EXECUTING:
            self._started(key)
        elif start in _EXECUTING and finish not in _EXECUTING:
            self._stopped(key, finish)
        elif finish == "flight" and self._running:  # data on its way from another worker
            state = self._tasks.get(key)
            for task in self._running.values():
                task.arrived += max(state.nbytes or 0, 0) if state is not None else 0

    def _fold(self) -> int:
        """Read the peak since the last reset into every running task; return current RSS."""
        rss, peak = self._meter.read()
        for task in self._running.values():
            task.peak = max(task.peak, peak)
            task.lowest = min(task.lowest, rss)
        return rss

    def _started(self, key: Any) -> None:
        # Every task pays this: in a busy worker its code runs with cold caches, at about five
        # times what a loop of it costs (nox -s bench-micro), so the usual case takes no detour.
        running = self._running
        if running:  # the peak so far folded into the tasks running; then measured from the lowest
            # point any of them has seen: they may free memory while this one runs, and its row
            # stays an upper bound
            rss = self._fold()
            self._meter.reset()
            lowest = min(rss, min(task.lowest for task in running.values()))
            concurrent = len(running) + 1
            for task in running.values():
                task.concurrent = max(task.concurrent, concurrent)
        else:  # one thread, the usual case: no peak to fold, the RSS the reset starts from
            rss = lowest = self._meter.reset()
            concurrent = 1
        state = self._tasks.get(key)
        input_bytes = (sum(max(dep.nbytes or 0, 0) for dep in state.dependencies)
                       if state is not None and state.dependencies else 0)
        running[key] = _Running(time.time(), rss, lowest, rss, concurrent, input_bytes,
                                arrived=self._incoming())  # already on its way when it started
        if self._announcer is None:  # else the pending timer sees this task when it fires
            self._announcer = self._call_later(ANNOUNCE_AFTER_S, self._announce)

    def _announce(self) -> None:
        """Send a start message for every task running for ANNOUNCE_AFTER_S or longer, once; then
        wait for the next task still to announce, if any (a long task alone wakes it no more)."""
        self._announcer = None
        now = time.time()
        pending = []
        for key, task in self._running.items():
            if task.announced:
                continue
            if task.start <= now - ANNOUNCE_AFTER_S:
                task.announced = True
                self._send({"op": OP_TASK_START, "key": str(key), "name": key_name(key), "start": task.start,
                            "baseline": task.baseline})
            else:
                pending.append(task.start)
        if pending:
            self._announcer = self._call_later(max(0.0, min(pending) + ANNOUNCE_AFTER_S - now), self._announce)

    def _stopped(self, key: Any, finish: str) -> None:
        stop = time.time()
        self._fold()
        task = self._running.pop(key, None)
        if task is None:  # the probe arrived while this task was already running
            return
        state = self._tasks.get(key)
        output_bytes = state.nbytes if state is not None and finish == "memory" and state.nbytes else 0
        # Measured from the lowest RSS seen at its boundaries and those of overlapping tasks:
        # memory freed while it ran (by the event loop or another task) may have been reused by it.
        # The fields in the order of STOP_FIELDS.
        self._send({"op": OP_TASK_STOP, "row": [
            str(key), key_name(key),
            key[-1] if isinstance(key, tuple) and len(key) > 1 and isinstance(key[-1], int) else None,
            task.start, stop, task.baseline, task.peak, max(0, task.peak - task.lowest), task.input_bytes,
            int(output_bytes), task.concurrent, task.arrived, self._meter.method,
            "erred" if finish == "error" else finish]})
