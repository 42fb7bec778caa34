"""What a failed case was: out of memory, timed out, or another error."""

from __future__ import annotations

import time
from typing import Any

from dask.utils import format_bytes
from distributed import KilledWorker

__all__ = ["MEMORY_KILL_TOPIC", "classify_failure", "one_line"]

MEMORY_KILL_TOPIC = "worker-restart-memory"  # logged by a nanny before it kills its worker for memory


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _memory_kills(scheduler: Any, wait_s: float) -> list[dict[str, Any]]:
    # The nanny's event and the worker's death reach the scheduler by different routes.
    deadline = time.monotonic() + wait_s
    while True:
        events = [msg for _, msg in scheduler.get_events(MEMORY_KILL_TOPIC)]
        if events or time.monotonic() >= deadline:
            return events
        time.sleep(0.05)


def classify_failure(error: BaseException, scheduler: Any) -> dict[str, Any]:
    """Fields for a case record: ``outcome`` is ``"timeout"``, ``"oom"`` or ``"error"``."""
    if isinstance(error, TimeoutError):
        return {"outcome": "timeout", "error": "stopped at its time limit"}
    kills = _memory_kills(scheduler, wait_s=2.0) if isinstance(error, KilledWorker) else []
    if kills:
        last = kills[-1]
        return {
            "outcome": "oom",
            "error": f"out of memory: worker {last.get('worker')} killed by its nanny at "
                     f"{format_bytes(last.get('rss') or 0)} RSS",
            "oom": {"task": str(getattr(error, "task", "")), "worker": last.get("worker"),
                    "peak_rss_bytes": last.get("rss"), "workers_killed": len(kills)},
        }
    return {"outcome": "error", "error": one_line(error)}
