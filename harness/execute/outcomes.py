"""What a failed case was: out of memory (and which task), timed out, or another error. All
out-of-memory attribution lives here."""

from __future__ import annotations

import time
from typing import Any

from dask.utils import format_bytes
from distributed import KilledWorker

from memreplay.compat import memory_kill_events
from memreplay.plan.distributed_config import kill_fraction
from memreplay.probes.base import on_scheduler
from memreplay.records.schema import BORDERLINE_PERCENT, DeadTask, MemoryManager, OomInfo, Outcome, Timeline
from memreplay.records.timeline_samples import SCHEDULER

__all__ = ["BORDERLINE_PERCENT", "Failure", "classify_failure", "kill_margin_percent", "name_the_running_task",
           "one_line", "paused_note"]

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


def kill_margin_percent(timeline: Timeline | None, memory: MemoryManager | None, memory_limit: int) -> float | None:
    """How far the largest worker's peak RSS stayed below its nanny's kill line (its limit × its
    ``terminate``), in percent of that line; None where no worker was sampled or none is killed."""
    if timeline is None:
        return None
    peaks = [peak for name, peak in timeline.peak_rss_bytes.items() if name != SCHEDULER]
    resolved = [w.settings["terminate"] for w in memory.workers if "terminate" in w.settings] if memory else []
    terminate = resolved[0] if resolved else kill_fraction()  # the workers' own, else this process's
    if not peaks or not terminate:
        return None
    line = memory_limit * float(terminate)
    return 100.0 * (line - max(peaks)) / line


def paused_note(memory: MemoryManager, timeout_s: float | None) -> str:
    """A case that timed out with a worker still paused: how long, which is why it made no progress."""
    longest = max((w for w in memory.workers if w.paused_at_end), key=lambda w: w.paused_s)
    limit = f" of its {timeout_s:.0f} s limit" if timeout_s else ""
    pauses = "once" if longest.pauses == 1 else f"{longest.pauses} times"
    return (f"worker {longest.worker} was paused for {longest.paused_s:.1f} s{limit} ({pauses}): past its pause "
            "threshold a worker starts no task")
