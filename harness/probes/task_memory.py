"""Scheduler side of the per-task memory probe: installs the worker plugin on every worker
(current and future), receives one message per task boundary, writes the CSV in batches.

Rows are kept as their messages arrive and written in one go at the flush, so they reach the file
within ``FLUSH_S``: a crash keeps every row measured before it but the last half second's. If a
worker dies, the tasks it was executing get a row with state ``worker-died``, their baseline as
measured at start and, as peak, the worker's last reported RSS (method ``heartbeat``).

The collector runs in the scheduler, which it measures: once a task's row is written it keeps
nothing of that task (a few bytes per row at most, for a graph of any size; until then, the rows of
the last ``FLUSH_S`` at most), and the per-partition input sizes it is given are an array of 8 bytes
each.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import tempfile
import threading
from array import array
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dask.utils import key_split
from distributed.diagnostics.plugin import SchedulerPlugin

from memreplay.analysis.task_summary import summarise_task_memory
from memreplay.compat import (
    MEMORY_KILL_TOPIC,
    add_stream_handlers,
    alias_keys,
    check_memory_kill_event,
    data_keys,
    install_worker_plugin,
    register_worker_plugin,
    scheduler_plugin,
    task_dependencies,
    worker_reported_memory,
)
from memreplay.probes.base import ProbeContext
from memreplay.probes.task_memory_worker import (
    OP_TASK_START,
    OP_TASK_STOP,
    PLUGIN_NAME,
    TaskMemoryWorkerPlugin,
    key_name,
)
from memreplay.records.atomic import atomic_write_bytes
from memreplay.records.schema import TaskMemory
from memreplay.records.task_rows import COLUMNS, MIB, read_task_rows

__all__ = ["FLUSH_S", "TaskMemoryCollector", "TaskMemoryProbe", "finish_case", "install_collector", "install_for_case"]

logger = logging.getLogger(__name__)

FLUSH_S = 0.5  # rows reach the file within this: a write per row would cost the scheduler


class TaskMemoryCollector(SchedulerPlugin):
    name = PLUGIN_NAME

    def __init__(self, csv_path: str | Path) -> None:
        self.csv_path = Path(csv_path)
        self._file = open(self.csv_path, "w", newline="", buffering=1 << 16)  # noqa: SIM115 (lives with the plugin)
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._file.flush()
        self._flush_timer: asyncio.TimerHandle | None = None  # pending: rows are in the buffer
        self._lock = threading.RLock()  # the file's: close_file may come from another thread
        self._executing: dict[str, dict[str, dict[str, Any]]] = {}  # worker → key → start message
        self._prefixes: dict[str, str] = {}  # key name → prefix as the user wrote it
        self._known_names: set[str] = set()
        # Keys that only rename another task's output, or hold data, and keys whose every input is
        # data written into the graph: each forgotten once its row is written (a rerun of such a
        # task after a worker died is then a row of its own, not marked).
        self._aliases: set[str] = set()
        self._fed_by_data: set[str] = set()
        self._input_hints = array("q")  # partition index → bytes, for tasks without inputs
        # The scheduler forgets a worker before telling plugins it left; keep its state to read
        # the last RSS it reported.
        self._worker_states: dict[str, Any] = {}
        self._killed_at: dict[str, int] = {}  # worker → RSS its nanny saw when killing it for memory
        # (worker, row) of the stops received since the flush: appended on the event loop, taken
        # from the left by whichever thread writes them
        self._stops: deque[tuple[str, list[Any]]] = deque()

    @property
    def input_hints(self) -> Sequence[int]:
        return self._input_hints

    @input_hints.setter
    def input_hints(self, hints: Sequence[int]) -> None:
        self._write_stops()  # the rows received so far, with the hints they came under
        self._input_hints = array("q", hints)

    # --- scheduler hooks -------------------------------------------------------------------

    def update_graph(self, scheduler: Any, *, tasks: list[Any] = (), **kwargs: Any) -> None:
        """Learn un-fused prefixes: dask names a fused task ``<other prefixes>-<output key name>``,
        and the output key name is itself a key of the graph. Only the names of a collection's
        tuple keys, which many tasks share, are kept: a string key (a future's, a delayed's) is a
        name of its own, and keeping those would hold something for every task."""
        self._write_stops()  # before this graph's marks: a key run again is a row of its own
        self._aliases |= alias_keys(scheduler, tasks)  # one look-up of distributed's internals per graph
        data = data_keys(scheduler, tasks)  # dask before 2024.12: a bag's partitions, not fused into its map
        if data:  # they run no code; the task over them reads the partition's input, as a fused one does
            self._aliases |= data
            self._fed_by_data |= {key for key, deps in task_dependencies(scheduler, tasks).items()
                                  if deps and all(dep in data for dep in deps)}
        names = {key_name(key) for key in tasks if isinstance(key, tuple)}
        self._known_names |= names
        for name in names:
            if name in self._prefixes:
                continue
            prefix = key_split(name)
            parts = name.split("-")
            for cut in range(1, len(parts)):
                suffix = "-".join(parts[cut:])
                if suffix in self._known_names:
                    prefix = key_split(suffix)
                    break
            self._prefixes[name] = prefix

    def add_worker(self, scheduler: Any, worker: str) -> None:
        self._worker_states[worker] = scheduler.workers[worker]

    def log_event(self, topic: str, msg: Any) -> None:
        if topic == MEMORY_KILL_TOPIC:
            event = check_memory_kill_event(msg)
            self._killed_at[event["worker"]] = event["rss"]

    def remove_worker(self, scheduler: Any, worker: str, **kwargs: Any) -> None:
        state = self._worker_states.pop(worker, None)
        if self._killed_at.get(worker):  # the nanny's reading at the kill: the peak reached
            peak, method = self._killed_at.pop(worker), "nanny"
        else:  # else the last RSS the worker reported in a heartbeat
            peak, method = (worker_reported_memory(state) if state is not None else 0), "heartbeat"
        for start in self._executing.pop(worker, {}).values():
            self._write_started(worker, start, peak or None, method, "worker-died")

    async def close(self) -> None:
        self.close_file()

    # --- worker messages (see task_memory_worker for their fields) ---------------------------

    def handle_start(self, worker: str, **start: Any) -> None:
        self._executing.setdefault(worker, {})[start["key"]] = start

    def handle_stop(self, worker: str, row: list[Any]) -> None:
        # Called once per task of the whole graph, between the scheduler's own work, where its code
        # runs with cold caches: the row is written at the flush, in a loop with the others (a row
        # cost about 30 µs of the scheduler's CPU written as its message came, 16 µs so).
        running = self._executing.get(worker)
        if running:
            running.pop(row[0], None)
        self._stops.append((worker, row))
        self._flush_soon()

    def _write_stops(self) -> None:
        """Write the rows of the stop messages received since the last flush, in order."""
        with self._lock:
            stops, hints = self._stops, self._input_hints
            while stops:
                worker, row = stops.popleft()
                try:
                    (key, name, index, start, stop, baseline, peak, increase, input_bytes, output_bytes, concurrent,
                     arrived, method, state) = row  # STOP_FIELDS
                    if index is not None and (not input_bytes or key in self._fed_by_data):
                        input_bytes = hints[index] if 0 <= index < len(hints) else input_bytes
                    self._write(worker, key, name, start, stop, baseline, peak, increase, input_bytes, output_bytes,
                                concurrent, arrived, method, state)
                except Exception:  # one malformed message loses its own row, not the others'
                    logger.exception("memreplay: a stop message from %s could not be written: %r", worker, row)

    def _write_started(self, worker: str, start: dict[str, Any], peak: int | None, method: str, state: str) -> None:
        """The row of a task whose stop never came: what its start message said, and a peak."""
        self._write_stops()  # after the rows of the stops that came before it
        with self._lock:
            self._write(worker, start["key"], start["name"], start["start"], None, start["baseline"], peak, None,
                        None, None, None, None, method, state)
        self._flush_soon()

    def _write(self, worker: str, key: str, name: str, start: float, stop: float | None, baseline: int,
               peak: int | None, increase: int | None, input_bytes: int | None, output_bytes: int | None,
               concurrent: int | None, arrived: int | None, method: str, state: str) -> None:
        """One row into the file's buffer; the caller holds the lock."""
        # dask-memusage's min column from the same baseline as the peak increase, so that
        # max - min is the peak increase: an upper bound for the task, even with neighbours
        low = baseline if peak is None or increase is None else peak - increase
        alias = key in self._aliases
        if alias:
            self._aliases.discard(key)
            if not self._aliases:  # a set keeps its table when emptied: a new one holds nothing
                self._aliases = set()
        if key in self._fed_by_data:
            self._fed_by_data.discard(key)
            if not self._fed_by_data:
                self._fed_by_data = set()
        if self._file.closed:
            return
        self._writer.writerow((
            key, _mb(low), _mb(peak), self.prefix_of(name), worker,
            _seconds(start), _seconds(stop), _seconds(None if stop is None else stop - start),
            baseline, _cell(peak), _cell(increase), _cell(input_bytes), _cell(output_bytes), _cell(concurrent),
            method, state, "true" if alias else "false", _cell(arrived),
        ))

    def _flush_soon(self) -> None:
        if self._flush_timer is None:
            try:  # on the scheduler's event loop, as its stream handlers and hooks are
                self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_S, self.flush)
            except RuntimeError:  # no loop running (called from another thread): now
                self.flush()

    def flush(self) -> None:
        """Write the rows received so far and hand them to the file (the timer's, or on demand)."""
        with self._lock:
            self._flush_timer = None
            self._write_stops()
            if not self._file.closed:
                self._file.flush()

    def write_unfinished(self, scheduler: Any, state: str) -> int:
        """Rows for the tasks still executing (a case stopped at its time limit): their baseline
        from their start, as peak their worker's last reported RSS. Returns how many."""
        written = 0
        for worker, running in list(self._executing.items()):
            known = scheduler.workers.get(worker)
            peak = worker_reported_memory(known) if known is not None else None
            for start in running.values():
                self._write_started(worker, start, peak, "heartbeat", state)
                written += 1
            running.clear()
        return written

    def held_bytes(self) -> int:
        """What the collector holds in the scheduler now, deep: its own state, not the file's buffer
        nor the scheduler's worker states it refers to."""
        from memreplay.probes.deepsize import deep_size

        seen: set[int] = set()
        return sum(deep_size(part, seen) for part in (self._executing, self._prefixes, self._known_names,
                                                      self._aliases, self._fed_by_data, self._input_hints,
                                                      self._killed_at, self._stops))

    def prefix_of(self, name: str) -> str:
        return self._prefixes.get(name) or key_split(name)

    def close_file(self) -> None:
        with self._lock:
            try:
                self._write_stops()
            finally:
                if self._flush_timer is not None:
                    self._flush_timer.cancel()
                    self._flush_timer = None
                if not self._file.closed:
                    self._file.close()


def _mb(value: int | None) -> str:
    return "" if value is None else f"{value / MIB:.6f}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"


def _cell(value: int | None) -> str | int:
    return "" if value is None else value


def _attach(scheduler: Any, csv_path: str | Path) -> TaskMemoryCollector:
    collector = TaskMemoryCollector(csv_path)
    for address in list(scheduler.workers):
        collector.add_worker(scheduler, address)
    add_stream_handlers(scheduler, {OP_TASK_START: collector.handle_start, OP_TASK_STOP: collector.handle_stop})
    scheduler.add_plugin(collector, name=PLUGIN_NAME)
    return collector


def install_collector(scheduler: Any, csv_path: str | Path, method: str = "auto") -> TaskMemoryCollector:
    """Attach a collector to ``scheduler`` and the worker plugin to all its workers, now and
    later. Callable from the scheduler's event loop (a preload) or from any other thread."""
    collector = _attach(scheduler, csv_path)
    register_worker_plugin(scheduler, PLUGIN_NAME, TaskMemoryWorkerPlugin(method))
    return collector


async def install_for_case(dask_scheduler: Any, csv_path: str | None, method: str,
                            input_hints: list[int]) -> None:
    # inside the scheduler (run_on_scheduler): returns once every connected worker has the plugin.
    # No csv_path: the scheduler's filesystem is not the driver's; the rows go to a file of its
    # own, which finish_case hands back.
    if csv_path is None:
        handle, csv_path = tempfile.mkstemp(prefix="memreplay-tasks-", suffix=".csv")
        os.close(handle)
    collector = _attach(dask_scheduler, csv_path)
    collector.input_hints = input_hints
    await install_worker_plugin(dask_scheduler, PLUGIN_NAME, TaskMemoryWorkerPlugin(method))


def finish_case(dask_scheduler: Any, state: str, hand_back: bool) -> bytes | None:
    collector = scheduler_plugin(dask_scheduler, PLUGIN_NAME)
    collector.write_unfinished(dask_scheduler, state)
    collector.close_file()
    dask_scheduler.remove_plugin(name=PLUGIN_NAME)  # a running cluster outlives the case
    if not hand_back:
        return None
    rows = collector.csv_path.read_bytes()
    collector.csv_path.unlink()
    return rows


class TaskMemoryProbe:
    """Per-task peak memory for a runner case: ``tasks.csv`` (written by the collector in the
    scheduler's process) plus a per-prefix summary."""

    name = "task_memory"
    csv_name = "tasks.csv"

    def __init__(self, method: str = "auto") -> None:
        self.method = method
        self._client: Any = None

    def start(self, client: Any, context: ProbeContext) -> None:
        self._client = client
        self._csv = (context.case_dir / self.csv_name).resolve()
        self._hand_back = not context.scheduler_is_local
        client.run_on_scheduler(install_for_case, csv_path=None if self._hand_back else str(self._csv),
                                method=self.method, input_hints=list(context.input_bytes))

    def stop(self, outcome: str) -> TaskMemory:
        assert self._client is not None, "stop() before start()"
        # tasks the case did not wait for (stopped at its time limit, or cut short by another failure)
        rows = self._client.run_on_scheduler(finish_case, state="timed-out" if outcome == "timeout" else "unfinished",
                                             hand_back=self._hand_back)
        try:  # the workers' plugin too: a running cluster outlives the case
            self._client.unregister_worker_plugin(PLUGIN_NAME)
        except Exception:  # noqa: S110 (a worker that died has no plugin left)
            pass
        if rows is not None:
            atomic_write_bytes(self._csv, rows)
        return summarise_task_memory(read_task_rows(self._csv), self.csv_name)
