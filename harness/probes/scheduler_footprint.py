"""The scheduler's own memory in a case: its RSS when the case starts, its peak during the case
and its RSS at the end, and after the case the entries (and deep size) of every bounded
structure it keeps. The scheduler runs in a process of its own for each case, so these are the
scheduler's alone. The peak is exact where Linux lets a process reset its peak (clear_refs,
reset when the case starts); elsewhere it is the process's peak since it started
(``ru_maxrss``), start-up included, and the record says which. Everything is read inside the
scheduler (``client.run_on_scheduler``), not from the driver."""

from __future__ import annotations

import gc
import os
import resource
import sys
from typing import Any

import psutil

from memreplay.compat import log_structures, transition_count
from memreplay.plan.distributed_config import log_settings
from memreplay.probes.base import ProbeContext
from memreplay.probes.clear_refs import ClearRefsMeter, clear_refs_available
from memreplay.probes.deepsize import deep_size
from memreplay.records.schema import SchedulerFootprint, StructureSize

__all__ = ["SchedulerFootprintProbe", "measure_structures", "scheduler_memory"]


def _entries(structure: Any) -> int:
    if isinstance(structure, dict):  # events by topic, monitor quantities by name
        return sum(len(value) for value in structure.values())
    return len(structure)


def _capacity(structure: Any) -> int | None:
    """The most entries a log may hold: a deque's maxlen, summed over a dict's deques (events by
    topic); None where any part is unbounded."""
    if isinstance(structure, dict):
        parts = [_capacity(value) for value in structure.values()]
        return None if None in parts else sum(parts)  # type: ignore[arg-type]
    return getattr(structure, "maxlen", None)


def measure_structures(dask_scheduler: Any) -> dict[str, Any]:
    """Run inside the scheduler (``client.run_on_scheduler``): entries and deep bytes per log."""
    import dask

    gc.collect()
    seen: set[int] = set()  # objects shared between logs count once, in the first
    result = {name: {"entries": _entries(value), "bytes": deep_size(value, seen), "capacity": _capacity(value)}
              for name, value in log_structures(dask_scheduler).items()}
    return {"structures": result, "settings": log_settings(), "transitions": transition_count(dask_scheduler),
            "pid": os.getpid(), "dask": dask.__version__}


def scheduler_memory(start: bool = False, exact: bool = False) -> dict[str, Any]:
    """Run inside the scheduler: this process's RSS now and its peak RSS. At the case's ``start``
    the peak is reset where Linux allows it (checking is writing to clear_refs, which resets);
    afterwards, ``exact`` (the start's verdict) reads the peak since then without resetting it
    again. Elsewhere the peak is the process's since it started."""
    if start:
        exact = clear_refs_available()
    if exact:
        meter = ClearRefsMeter()
        try:
            rss, peak = meter.read()
        finally:
            meter.close()
        return {"pid": os.getpid(), "rss": rss, "peak": peak, "peak_since": "case start"}
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"pid": os.getpid(), "rss": psutil.Process().memory_info().rss, "peak_since": "scheduler start",
            "peak": lifetime if sys.platform == "darwin" else lifetime * 1024}  # bytes on macOS, KiB on Linux


class SchedulerFootprintProbe:
    """``CaseResult.scheduler``: the case's scheduler process, under its scheduler preset."""

    name = "scheduler"

    def __init__(self) -> None:
        self._client: Any = None

    def start(self, client: Any, context: ProbeContext) -> None:
        self._client = client
        self._preset = context.scheduler_preset
        self._start = client.run_on_scheduler(scheduler_memory, start=True)

    def stop(self, outcome: str) -> SchedulerFootprint:
        assert self._client is not None, "stop() before start()"
        exact = self._start["peak_since"] == "case start"
        end = self._client.run_on_scheduler(scheduler_memory, exact=exact)  # before measuring, which allocates
        measured = self._client.run_on_scheduler(measure_structures)
        return SchedulerFootprint(
            preset=self._preset, pid=end["pid"], rss_start_bytes=self._start["rss"],
            rss_peak_bytes=max(end["peak"], end["rss"], self._start["rss"]), peak_since=end["peak_since"],
            rss_end_bytes=end["rss"],
            transitions=measured["transitions"], settings=measured["settings"],
            structures={name: StructureSize(**size) for name, size in measured["structures"].items()})
