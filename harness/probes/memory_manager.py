"""What Dask's memory manager did in a case, per worker: the thresholds it ran with, what it
spilled (at its peak, from the timeline's samples, and at the end), what it wrote to and read
from disk and the seconds that took, how long it was paused, and managed against unmanaged
memory at the worker's peak RSS.

Counters are read from each worker at the start and the end (their difference is the case's);
pauses and restarts from the events the scheduler keeps; the per-moment figures ride on the
timeline's RSS samples (:mod:`memreplay.probes.timeline_collector`), so this probe runs nothing
during the case. It stops after the timeline, whose ``timeline.csv`` it reads. A worker killed
during the case keeps what its samples and events said; its end counters are gone with it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from memreplay.compat import worker_memory_events, worker_memory_manager
from memreplay.probes.base import ProbeContext, on_scheduler
from memreplay.records.schema import MemoryEvent, MemoryManager, SpilledBytes, WorkerMemory
from memreplay.records.timeline_samples import SCHEDULER, TimelineRow, read_timeline

__all__ = ["EVENTS_KEPT", "SPANS_KEPT", "MemoryManagerProbe", "paused_spans", "summarise_worker"]

EVENTS_KEPT = 100  # per worker in the record: a pipeline can pause its workers several times a second
SPANS_KEPT = 500  # paused spans per worker, for the plots (the total paused time counts them all)
SPILL_LABELS = ("serialize", "compress", "disk-write")  # the spill buffer's metrics while it spills
UNSPILL_LABELS = ("disk-read", "decompress", "deserialize")


def _worker_state(dask_worker: Any) -> dict[str, Any]:  # client.run passes the worker by this name only
    return worker_memory_manager(dask_worker)


Event = tuple[float, str, "str | None"]  # time (the scheduler's clock), action, the new status of a status change


def _pauses(events: list[Event], end: float) -> tuple[list[tuple[float, float]], bool]:
    """The (start, stop) of each span a worker was paused, from its status changes (oldest
    first), and whether it still was at ``end``: a pause still on lasts until then, one cut by
    the worker leaving or being killed until that moment."""
    spans: list[tuple[float, float]] = []
    paused_at: float | None = None
    for when, action, status in events:
        if action == "worker-status-change" and status == "paused":
            paused_at = when if paused_at is None else paused_at
        elif paused_at is not None and action in ("worker-status-change", "remove-worker", "worker-restart-memory"):
            spans.append((paused_at, when))
            paused_at = None
    if paused_at is not None:
        spans.append((paused_at, max(paused_at, end)))
    return spans, paused_at is not None


def paused_spans(events: list[Event], end: float) -> list[tuple[float, float]]:
    return _pauses(events, end)[0]


def _delta(end: dict[str, float], start: dict[str, float], label: str, unit: str) -> float:
    key = f"{label}/{unit}"
    return max(0.0, end.get(key, 0.0) - start.get(key, 0.0))


def summarise_worker(worker: str, samples: list[TimelineRow], start: dict[str, Any] | None,
                     end: dict[str, Any] | None, events: list[tuple[float, str, str | None]], since: float,
                     now: float) -> WorkerMemory:
    """One worker's figures: ``start`` and ``end`` its memory manager's state (None: it was not
    there), ``events`` on the scheduler's clock, ``since`` the case's start and ``now`` its end on it."""
    peak = max(samples, key=lambda row: row.rss_bytes, default=None)
    # (managed, spilled as sizeof, spilled on disk) at every sample, and at the end, a moment of
    # the case too, read exactly: the last sample may precede its last spill
    moments = [(row.managed_bytes, row.spilled_memory_bytes or 0, row.spilled_disk_bytes or 0) for row in samples
               if row.managed_bytes is not None]
    if end is not None:
        moments.append((end["managed"], *end["spilled"]))
    spilled_peak = (SpilledBytes(memory=max(m[1] for m in moments), disk=max(m[2] for m in moments))
                    if moments else None)
    spans, still = _pauses(events, now)
    counters: dict[str, Any] = {}
    if end is not None:
        before = (start or {}).get("metrics", {})
        after = end["metrics"]
        counters = {
            "disk_write_bytes": int(_delta(after, before, "disk-write", "bytes")),
            "disk_write_count": int(_delta(after, before, "disk-write", "count")),
            "disk_read_bytes": int(_delta(after, before, "disk-read", "bytes")),
            "disk_read_count": int(_delta(after, before, "disk-read", "count")),
            "spill_s": sum(_delta(after, before, label, "seconds") for label in SPILL_LABELS),
            "unspill_s": sum(_delta(after, before, label, "seconds") for label in UNSPILL_LABELS),
        }
    known = end or start
    kept = [MemoryEvent(time_s=max(0.0, when - since), action=action, status=status)
            for when, action, status in events[:EVENTS_KEPT]]
    return WorkerMemory(
        worker=worker, settings=known["settings"] if known else {}, spilling=bool(known and known["spilling"]),
        peak_rss_bytes=None if peak is None else peak.rss_bytes,
        managed_at_peak_bytes=None if peak is None else peak.managed_bytes,
        unmanaged_at_peak_bytes=None if peak is None else peak.unmanaged_bytes,
        spilled_peak=spilled_peak,
        held_peak_bytes=max((managed + spilled for managed, spilled, _ in moments), default=None),
        spilled_end=None if end is None else SpilledBytes(memory=end["spilled"][0], disk=end["spilled"][1]),
        paused_s=sum(stop - start for start, stop in spans), pauses=len(spans),
        paused_spans=[(max(0.0, start - since), stop - since) for start, stop in spans[:SPANS_KEPT]],
        paused_at_end=still, events=kept, events_dropped=max(0, len(events) - EVENTS_KEPT),
        **counters)


class MemoryManagerProbe:
    """``CaseResult.memory_manager``: Dask's memory manager on every worker of the case."""

    name = "memory_manager"

    def __init__(self, timeline_csv: str = "timeline.csv") -> None:
        self.timeline_csv = timeline_csv
        self._client: Any = None

    def start(self, client: Any, context: ProbeContext) -> None:
        self._client, self._case_dir = client, context.case_dir
        self._thresholds = context.memory_thresholds
        self._since = client.run_on_scheduler(time.time)
        self._start = client.run(_worker_state)

    def stop(self, outcome: str) -> MemoryManager:
        assert self._client is not None, "stop() before start()"
        now = self._client.run_on_scheduler(time.time)
        end = {worker: state for worker, state in self._client.run(_worker_state, on_error="return").items()
               if isinstance(state, dict)}  # a worker that died during the case answers with its error
        events = on_scheduler(self._client, worker_memory_events, self._since)
        path = Path(self._case_dir) / self.timeline_csv
        samples = [row for row in read_timeline(path) if row.process != SCHEDULER] if path.exists() else []
        workers = sorted({*self._start, *end, *(row.process for row in samples), *events})
        summaries = [summarise_worker(worker, [row for row in samples if row.process == worker],
                                      self._start.get(worker), end.get(worker), events.get(worker, []),
                                      self._since, now) for worker in workers]
        return MemoryManager(thresholds=self._thresholds, workers=summaries)
