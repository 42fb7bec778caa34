"""What Dask's memory manager did: the spans a worker was paused, from its status changes."""

from __future__ import annotations

from collections.abc import Iterable

from memreplay.records.schema import MemoryEvent

__all__ = ["Event", "paused_spans"]

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
