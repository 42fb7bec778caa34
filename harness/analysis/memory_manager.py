"""What Dask's memory manager did, read from records: the spans a worker was paused, and a
case's spilling in one line of figures."""

from __future__ import annotations

from collections.abc import Iterable

from memreplay.records.schema import CaseResult, MemoryEvent

__all__ = ["Event", "paused_spans", "spill_figures", "spilled"]

Event = tuple[float, str, "str | None"]  # time, action, the new status of a status change


def paused_spans(events: Iterable[Event | MemoryEvent], end: float) -> list[tuple[float, float]]:
    """The (start, stop) of each span a worker was paused, from its status changes (times on one
    clock, oldest first). A pause still on at ``end``, or when the worker left or was killed,
    lasts until then."""
    spans: list[tuple[float, float]] = []
    paused_at: float | None = None
    for event in events:
        when, action, status = ((event.time_s, event.action, event.status) if isinstance(event, MemoryEvent)
                                else event)
        if action == "worker-status-change" and status == "paused":
            paused_at = when if paused_at is None else paused_at
        elif paused_at is not None and (action in ("remove-worker", "worker-restart-memory")
                                        or action == "worker-status-change"):
            spans.append((paused_at, when))
            paused_at = None
    if paused_at is not None:
        spans.append((paused_at, max(paused_at, end)))
    return spans


def spill_figures(case: CaseResult) -> dict[str, float] | None:
    """A case's spilled bytes (each worker's peak, as sizeof, summed), bytes written to disk and
    worker-seconds paused; None where the memory manager was not recorded (before schema 7)."""
    memory = case.memory_manager
    if memory is None:
        return None
    return {"spilled_bytes": memory.spilled_peak_bytes, "disk_write_bytes": memory.disk_write_bytes,
            "paused_s": memory.paused_s}


def spilled(case: CaseResult) -> bool:
    return case.memory_manager is not None and case.memory_manager.spilled
