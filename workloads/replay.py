"""``replay:TRACE``: a recorded pipeline rebuilt synthetically, task by task.

Each task of the trace becomes a :func:`memreplay.workloads.synthetic.replay_task` under a key of the same
prefix (``<prefix>-<hash>``), with the same dependencies: it holds its inputs, allocates and
touches its recorded peak increase, stays for its recorded duration and returns an array of
its recorded output size. An array moves between workers far faster than the Python objects it
stands for; the time the original spent moving each output (``transfer_s``) is in the trace,
but is not replayed: played as waits, it also counted the original's queueing, which the replay
has of its own, and made replays slower than their recordings.

The graph is submitted in windows as the trace is read, each task's output held by the driver
only until its last dependent is submitted, so a trace larger than memory is streamed, never
built whole.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import dask

from memreplay.corpora import Corpus
from memreplay.workloads.synthetic import replay_task
from memreplay.workloads.trace import TraceError, index_trace, iter_tasks
from memreplay.workloads.workload import DeadlinePassed, Workload

__all__ = ["KILLED_HOLD_S", "REPLAY_PREFIX", "WINDOW", "replay", "replay_workload"]

REPLAY_PREFIX = "replay:"
WINDOW = 10_000  # tasks per submission
# A task whose worker was killed while it ran, in a trace that does not say the workers' memory
# limit: replayed, it holds its recorded peak for at least this long. With the limit known, it
# grows to the recorded worker's kill line instead (synthetic.grow_to_kill_line).
KILLED_HOLD_S = 1.0


def replay_workload(reference: str) -> Workload:
    """The workload ``replay:PATH``; the trace is checked (streamed once) before anything runs."""
    if not reference.removeprefix(REPLAY_PREFIX).strip():
        raise TraceError(f"{reference!r}: give the trace's path, e.g. replay:trace.json")
    path = Path(reference.removeprefix(REPLAY_PREFIX))
    index = index_trace(path)  # TraceError: one line naming the file and the line
    shape = index.header.cluster
    recorded_on = f" on {shape.label}" if shape else ""
    return Workload(
        name=reference, version=1, corpus_kind="text",
        description=f"replay of {path.name}: {index.tasks} tasks recorded{recorded_on}, outcome {index.end.outcome}",
        build=_no_graph, drive=lambda client, corpus, timeout_s: replay(client, path, timeout_s),
    )


def _no_graph(corpus: Corpus) -> Any:
    raise TypeError("a replayed trace is submitted as it is read (Workload.drive), not built as one graph")


def replay(client: Any, path: Path, timeout_s: float | None, window: int = WINDOW) -> int:
    """Submit the trace's tasks in windows, wait for the pipeline's results; return how many
    tasks ran. Raises what the cluster raised (KilledWorker for a worker killed for memory),
    or :class:`DeadlinePassed` after ``timeout_s``."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    index = index_trace(path)  # the trace may have changed since it was resolved
    killed_at_limit = index.header.cluster.memory_limit if index.header.cluster else 0
    held: dict[int, Any] = {}  # futures of outputs a later window needs, by position
    submitted = 0
    results: list[Any] = []  # futures of the pipeline's results
    batch: list[tuple[int, Any]] = []
    in_batch: dict[int, Any] = {}

    def submit() -> None:
        end = batch[-1][0]
        wanted = [(position, node) for position, node in batch
                  if index.last_use[position] > end or index.last_use[position] == -1]
        futures = client.compute([node for _, node in wanted])
        for (position, _), future in zip(wanted, futures):
            if index.last_use[position] == -1:
                results.append(future)
            else:
                held[position] = future
        for position in [p for p in held if index.last_use[p] <= end]:  # every user is submitted
            del held[position]
        batch.clear()
        in_batch.clear()

    for task in iter_tasks(path):
        position, submitted = submitted, submitted + 1
        inputs = [in_batch[dep] if dep in in_batch else held[dep] for dep in task.deps]
        killed = task.state != "memory"
        duration = max(task.duration_s, KILLED_HOLD_S) if killed else task.duration_s
        node = dask.delayed(replay_task, pure=True)(task.peak_increase_bytes, duration, task.output_bytes,
                                                     *inputs, killed_at_limit=killed_at_limit if killed else 0,
                                                     dask_key_name=f"{task.prefix}-{task.id}")
        batch.append((position, node))
        in_batch[position] = node
        if len(batch) >= window:
            submit()
    if batch:
        submit()
    if not submitted:
        raise TraceError(f"{path}: no tasks to replay")
    for future in results:  # raises the first error a task raised (KilledWorker: out of memory)
        try:
            future.result(timeout=None if deadline is None else max(0.001, deadline - time.monotonic()))
        except TimeoutError:
            if future.status == "error":  # a task that raised TimeoutError itself
                raise
            raise DeadlinePassed("stopped at its time limit") from None
    return submitted
