"""The processes' side of the timeline: a worker plugin that samples its worker's RSS (from a
small process beside it) and sends each sample to the scheduler, and the scheduler plugin that
keeps them beside the scheduler's own samples. Kept apart from the probe (and its plotting) so
that the scheduler and the workers import no more than they need: what they import is what
they hold."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin

from memreplay.compat import (
    add_stream_handlers,
    install_worker_plugin,
    scheduler_plugin,
    worker_memory_sampler,
    worker_sender,
)
from memreplay.probes.rss_sampler import RssSampler
from memreplay.records.timeline_samples import SCHEDULER, TimelineRow

__all__ = ["PLUGIN_NAME", "TimelineCollector", "TimelineWorkerPlugin", "finish_timeline", "install_timeline"]

PLUGIN_NAME = "memreplay-timeline"
OP_RSS = "memreplay-rss"


class TimelineWorkerPlugin(WorkerPlugin):
    """Samples its worker's RSS from a small process of its own beside the worker (not a thread
    in it: see :mod:`memreplay.probes.rss_sample_child`) and sends each sample to the scheduler,
    with what the worker's memory manager holds at that moment (read on the worker's event loop,
    where the memory manager changes it)."""

    name = PLUGIN_NAME
    idempotent = False

    def __init__(self, interval_s: float, memory_manager: bool = True) -> None:
        self.interval_s = interval_s
        self.memory_manager = memory_manager  # False: RSS only (the probe benchmark's baseline of this)

    async def setup(self, worker: Any) -> None:
        send, memory = worker_sender(worker), worker_memory_sampler(worker)

        def rss_only(t: float, rss: int) -> None:
            send({"op": OP_RSS, "t": t, "rss": rss})

        def with_memory_manager(t: float, rss: int) -> None:
            managed, spilled_memory, spilled_disk, paused = memory()
            send({"op": OP_RSS, "t": t, "rss": rss, "managed": managed, "spilled_memory": spilled_memory,
                  "spilled_disk": spilled_disk, "paused": paused})

        report = with_memory_manager if self.memory_manager else rss_only

        # unbuffered (bufsize=0): the first line is read with readline and the rest from the fd,
        # and a buffered reader could hold samples read ahead of the fd
        self._child = subprocess.Popen(
            [sys.executable, "-m", "memreplay.probes.rss_sample_child", str(os.getpid()), str(self.interval_s)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, bufsize=0)
        assert self._child.stdout is not None
        self._fd = self._child.stdout.fileno()

        def forward(line: bytes) -> None:  # the samples keep the child's times, however late they are read
            t, rss = line.split()
            report(float(t), int(rss))

        # the case starts once every worker's sampler has sampled: a short case still has them all
        first = await asyncio.to_thread(self._child.stdout.readline)
        if first:
            forward(first)
        # Later samples are read on the worker's event loop when the pipe has them, with no thread
        # of its own: a reading thread takes the GIL back from the loop on every sample, and then
        # hands the sample to the loop anyway.
        os.set_blocking(self._fd, False)
        self._loop = asyncio.get_running_loop()
        partial = b""

        def readable() -> None:
            nonlocal partial
            try:
                chunk = os.read(self._fd, 65536)
            except BlockingIOError:
                return
            if not chunk:  # the child ended
                self._loop.remove_reader(self._fd)
                return
            *lines, partial = (partial + chunk).split(b"\n")
            for line in lines:
                forward(line)

        self._loop.add_reader(self._fd, readable)

    def teardown(self, worker: Any) -> None:
        if getattr(self, "_loop", None) is not None:  # else setup never got as far as reading
            self._loop.remove_reader(self._fd)
        self._child.terminate()
        self._child.wait(timeout=5)
        assert self._child.stdout is not None
        self._child.stdout.close()


class TimelineCollector(SchedulerPlugin):
    """In the scheduler: the workers' samples as they arrive, and the scheduler's own."""

    name = PLUGIN_NAME

    def __init__(self, interval_s: float) -> None:
        self._lock = threading.Lock()
        self._samples: list[TimelineRow] = []  # at absolute times (time.time())
        self._own = RssSampler({SCHEDULER: os.getpid()}, interval_s, name="memreplay-timeline-scheduler")

    def handle_rss(self, worker: str, t: float, rss: int, managed: int | None = None,
                   spilled_memory: int | None = None, spilled_disk: int | None = None,
                   paused: bool | None = None) -> None:
        with self._lock:
            self._samples.append(TimelineRow(t, worker, rss, managed, spilled_memory, spilled_disk, paused))

    def held_bytes(self) -> int:
        """What the collector holds in the scheduler now, deep: every sample so far (they grow with
        the case's time, not with its tasks)."""
        from memreplay.probes.deepsize import deep_size

        seen: set[int] = set()
        with self._lock:
            return deep_size(self._samples, seen) + deep_size(self._own.samples, seen)

    def finish(self) -> list[TimelineRow]:
        own = [TimelineRow(self._own.started + t, name, rss) for t, name, rss in self._own.stop()]
        with self._lock:
            return sorted(own + self._samples)


async def install_timeline(dask_scheduler: Any, interval_s: float, memory_manager: bool = True) -> None:
    collector = TimelineCollector(interval_s)
    add_stream_handlers(dask_scheduler, {OP_RSS: collector.handle_rss})
    dask_scheduler.add_plugin(collector, name=PLUGIN_NAME)
    await install_worker_plugin(dask_scheduler, PLUGIN_NAME, TimelineWorkerPlugin(interval_s, memory_manager))


def finish_timeline(dask_scheduler: Any) -> list[TimelineRow]:
    samples = scheduler_plugin(dask_scheduler, PLUGIN_NAME).finish()
    dask_scheduler.remove_plugin(name=PLUGIN_NAME)
    return samples
