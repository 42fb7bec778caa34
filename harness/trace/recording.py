"""Record a pipeline of the user's own, on their cluster, as a trace (``memreplay.workloads.trace``) that
``replay:TRACE`` rebuilds.

Python::

    import memreplay
    with Client(...) as client, memreplay.record("trace.json"):
        pipeline()

Command line (a client preload: every Dask client the script makes is recorded until it closes)::

    memreplay record --output trace.json -- python my_pipeline.py

While recording, the per-task probe measures every task on the user's cluster and the
scheduler notes each graph's dependencies. At the end both are handed back to this process
and written as a trace: task prefixes, hashes of keys, dependencies, durations, peak increases,
input and output bytes, the cluster's shape and the outcome. No data, no code, no key names.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask
import distributed

from memreplay.compat import memory_kill_events
from memreplay.errors import UserError
from memreplay.execute.cluster import running_shape
from memreplay.probes.base import ProbeContext, on_scheduler
from memreplay.probes.dependencies import finish_dependencies, install_dependencies
from memreplay.probes.memory_manager import MemoryManagerProbe
from memreplay.probes.task_memory import TaskMemoryProbe
from memreplay.probes.transfers import transfer_seconds
from memreplay.records.task_rows import TaskRow, read_task_rows
from memreplay.workloads.trace import (
    TRACE_VERSION,
    TraceCluster,
    TraceEnd,
    TraceHeader,
    TraceTask,
    TraceWorkerMemory,
    key_hash,
    write_trace,
)

__all__ = ["TRACE_ENV", "Recording", "dask_setup", "dask_teardown", "record", "trace_tasks"]

TRACE_ENV = "MEMREPLAY_TRACE"  # where the client preload writes its trace


class Recording:
    """A recording in progress on ``client``'s cluster."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.directory = Path(tempfile.mkdtemp(prefix="memreplay-record-"))
        try:
            shape = running_shape(client, "record")
            self.cluster: TraceCluster | None = TraceCluster(shape.n_workers, shape.threads_per_worker,
                                                             shape.memory_limit)
        except UserError:  # workers not alike, or without a memory limit: the trace says so
            self.cluster = None
        self.since = client.run_on_scheduler(time.time)
        client.run_on_scheduler(install_dependencies)
        self.probe = TaskMemoryProbe()
        self.probe.start(client, ProbeContext(self.directory, scheduler_is_local=False))
        self.memory = MemoryManagerProbe()  # its counters and events; no timeline runs while recording
        self.memory.start(client, ProbeContext(self.directory, scheduler_is_local=False))

    def finish(self, path: Path) -> TraceEnd:
        """Stop recording and write the trace to ``path`` (atomically)."""
        try:
            self.probe.stop("ok")
            memory = self.memory.stop("ok")
            dependencies = self.client.run_on_scheduler(finish_dependencies)
            transfers = transfer_seconds(self.client, self.since)
            kills = on_scheduler(self.client, memory_kill_events, self.since)
            rows = read_task_rows(self.directory / TaskMemoryProbe.csv_name)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
        tasks = trace_tasks(rows, dependencies, transfers)
        measured = [row for row in rows if row.state == "memory" and row.start is not None and row.stop is not None]
        span = (max(r.stop for r in measured) - min(r.start for r in measured)) if measured else 0.0  # type: ignore
        # a task that erred, or was still running when the recording stopped (the script was
        # interrupted, or stopped waiting): the pipeline did not finish as it should
        unfinished = any(row.state in ("erred", "unfinished", "timed-out") for row in rows)
        outcome = "oom" if kills else "error" if unfinished else "ok"
        end = TraceEnd(tasks=len(tasks), outcome=outcome, span_s=span, oom_workers=len(kills),
                       memory=[TraceWorkerMemory(spilled_written_bytes=w.disk_write_bytes, paused_s=w.paused_s,
                                                 spilled_end_bytes=None if w.spilled_end is None else
                                                 w.spilled_end.memory) for w in memory.workers])
        header = TraceHeader(format="memreplay-trace", version=TRACE_VERSION, created=datetime.now(UTC).isoformat(),
                             dask=dask.__version__, distributed=distributed.__version__, cluster=self.cluster)
        write_trace(path, header, tasks, end)
        return end


def trace_tasks(rows: list[TaskRow], dependencies: dict[str, list[str]],
                transfers: dict[str, float] | None = None) -> list[TraceTask]:
    """One trace task per key, every task after its dependencies, with the mean time one
    transfer of its output to another worker took (``transfers``, by key). A key run more than once (its
    output lost with a killed worker) keeps its last finished run; a key whose worker was killed
    while it ran, and that never finished, keeps that run, its peak increase up to the kill."""
    chosen: dict[str, TaskRow] = {}
    for row in rows:
        if row.state == "memory" or (row.state == "worker-died" and chosen.get(row.task_key) is None):
            chosen[row.task_key] = row
    order = sorted(chosen, key=lambda key: (chosen[key].stop or chosen[key].start or 0.0))
    dependents: dict[str, list[str]] = defaultdict(list)
    waiting = {}
    for key in order:
        deps = [dep for dep in dependencies.get(key, []) if dep in chosen]
        waiting[key] = len(deps)
        for dep in deps:
            dependents[dep].append(key)
    ready = [key for key in order if waiting[key] == 0]
    placed: list[str] = []
    position = {key: index for index, key in enumerate(order)}
    while ready:  # Kahn's order, ties broken by when each task finished
        ready.sort(key=position.__getitem__, reverse=True)
        key = ready.pop()
        placed.append(key)
        for dependent in dependents[key]:
            waiting[dependent] -= 1
            if waiting[dependent] == 0:
                ready.append(dependent)
    placed_at = {key: index for index, key in enumerate(placed)}
    return [_trace_task(chosen[key], [placed_at[dep] for dep in dependencies.get(key, []) if dep in chosen],
                        (transfers or {}).get(key, 0.0)) for key in placed]


def _trace_task(row: TaskRow, deps: list[int], transfer_s: float) -> TraceTask:
    if row.state == "memory":
        increase = row.peak_increase_bytes or 0
    else:  # killed while it ran: what it had reached
        increase = max(0, (row.peak_bytes or 0) - (row.baseline_bytes or 0))
    return TraceTask(id=key_hash(row.task_key), prefix=row.task_prefix, deps=deps,
                     duration_s=max(0.0, row.duration_s or 0.0), peak_increase_bytes=increase,
                     input_bytes=row.input_bytes or 0, output_bytes=row.output_bytes or 0, transfer_s=transfer_s,
                     arrived_bytes=row.arrived_bytes or 0,
                     state="memory" if row.state == "memory" else "worker-died")


@contextmanager
def record(path: str | Path, client: Any = None) -> Iterator[Recording]:
    """Record every task run on ``client``'s cluster (default: the current Dask client) inside
    the block, and write the trace to ``path`` when it ends, however it ends."""
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            raise UserError("memreplay.record: no Dask client; make one (Client(...)) before recording") from None
    recording = Recording(client)
    try:
        yield recording
    finally:
        recording.finish(Path(path))


# --- the client preload behind `memreplay record -- COMMAND` -------------------------------------

_ACTIVE: dict[int, Recording] = {}


async def dask_setup(client: Any) -> None:
    """Start recording when the script's first client connects (later ones are not recorded)."""
    if not _ACTIVE and os.environ.get(TRACE_ENV):
        # the client's own calls wait on its event loop, where this runs: make them from a thread
        _ACTIVE[id(client)] = await asyncio.to_thread(Recording, client)


async def dask_teardown(client: Any) -> None:
    recording = _ACTIVE.pop(id(client), None)
    if recording is not None:
        try:
            await asyncio.to_thread(recording.finish, Path(os.environ[TRACE_ENV]))
        except Exception as error:  # the user's script is ending: say why there is no trace
            print(f"memreplay record: no trace written: {type(error).__name__}: {error}", file=sys.stderr)
