"""What a failed case was: out of memory (and which task), timed out, or another error. All
out-of-memory attribution lives here."""

from __future__ import annotations

import time
from typing import Any

from dask.utils import format_bytes
from distributed import KilledWorker

from memreplay.compat import memory_kill_events
from memreplay.probes.base import on_scheduler
from memreplay.records.schema import DeadTask, OomInfo, Outcome

__all__ = ["Failure", "classify_failure", "name_the_running_task", "one_line"]

Failure = tuple[Outcome, str, OomInfo | None]  # outcome, one-line reason, out-of-memory details


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _still_connected(scheduler: Any, workers: list[str]) -> list[str]:
    return [worker for worker in workers if worker in scheduler.workers]


def _memory_kills(client: Any, wait_s: float, since: float) -> list[dict[str, Any]]:
    # The nanny's event and the worker's death reach the scheduler by different routes; and once
    # the scheduler has removed every killed worker, the per-task probe has written the rows of
    # the tasks each was executing (the "worker-died" rows that name the task).
    deadline = time.monotonic() + wait_s
    while True:
        events = on_scheduler(client, memory_kill_events, since)
        killed = [event["worker"] for event in events]
        if (events and not on_scheduler(client, _still_connected, killed)) or time.monotonic() >= deadline:
            return events
        time.sleep(0.05)


def classify_failure(error: BaseException, client: Any, deadline_passed: bool = False, since: float = 0.0) -> Failure:
    """``client``: of the case's cluster, to ask its scheduler which workers their nannies killed
    since ``since`` (the case's start on the scheduler's clock); ``deadline_passed``: the case hit
    the harness's own time limit (not a task's TimeoutError)."""
    if deadline_passed:
        return "timeout", "stopped at its time limit", None
    kills = _memory_kills(client, wait_s=2.0, since=since) if isinstance(error, KilledWorker) else []
    if kills:
        last = kills[-1]
        reason = f"out of memory: worker {last['worker']} killed by its nanny at {format_bytes(last['rss'])} RSS"
        # dask's KilledWorker names a task it lost, possibly one only queued on the worker;
        # name_the_running_task replaces it with the one the probe saw executing
        return "oom", reason, OomInfo(task=str(error.task), worker=last["worker"], peak_rss_bytes=last["rss"],
                                      workers_killed=len(kills))
    return "error", one_line(error), None


def name_the_running_task(oom: OomInfo, worker_died: list[DeadTask]) -> OomInfo:
    """The task that was executing on the killed worker, from the per-task probe's rows."""
    died = [task for task in worker_died if task.worker == oom.worker]
    if not died:
        return oom
    oom.task, oom.task_prefix = died[0].task_key, died[0].task_prefix
    return oom
