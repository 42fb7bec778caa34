"""The trace of a recorded pipeline: its one writer and its one reader.

A trace is JSON Lines: a header (format, version, the cluster's shape, dask's versions), one
line per task in an order where every task comes after its dependencies, and an end line (how
many tasks, the outcome, the span of the tasks and, from version 2, what each worker's memory
manager spilled and how long it was paused). It holds no data and no code: a task is its
key's prefix and a hash of its key, the positions of its dependencies in the trace, its
duration, peak increase, input and output bytes, how long moving its output to another worker
took and how much data arrived while it ran.

The reader streams: a trace is read line by line, twice (a check, then the replay), and never
held whole. What it keeps is 8 bytes per task (where each output is last used, so it can be
released then); a dependency is named by its position, so no table of ids is needed either.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import msgspec

__all__ = ["READABLE_TRACE_VERSIONS", "TRACE_VERSION", "TraceCluster", "TraceEnd", "TraceError", "TraceHeader",
           "TraceIndex", "TraceTask", "TraceWorkerMemory",
           "index_trace", "iter_tasks", "key_hash", "write_trace"]

TRACE_FORMAT = "memreplay-trace"
TRACE_VERSION = 2
READABLE_TRACE_VERSIONS = (1, 2)  # 2 added the end line's memory (version 1 traces have none)
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
Seconds = Annotated[float, msgspec.Meta(ge=0)]


class TraceError(ValueError):
    """A trace that cannot be replayed: one line naming the file, the line and the problem."""


class TraceCluster(msgspec.Struct, forbid_unknown_fields=True):
    n_workers: Annotated[int, msgspec.Meta(ge=1)]
    threads_per_worker: Annotated[int, msgspec.Meta(ge=1)]
    memory_limit: Annotated[int, msgspec.Meta(ge=1)]

    @property
    def label(self) -> str:
        return f"{self.n_workers}x{self.threads_per_worker}"


class TraceHeader(msgspec.Struct, tag="header", tag_field="kind", forbid_unknown_fields=True):
    format: str
    version: int
    created: str
    dask: str
    distributed: str
    cluster: TraceCluster | None  # None: the workers were not alike, or had no memory limit


TaskId = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{16}$")]  # key_hash: 16 hex digits


class TraceTask(msgspec.Struct, tag="task", tag_field="kind", forbid_unknown_fields=True):
    id: TaskId  # a hash of the key: the key itself may name the user's data
    prefix: str
    deps: list[NonNegative]  # the positions (0 = the first task line) of its dependencies, all before it
    duration_s: Seconds
    peak_increase_bytes: NonNegative
    input_bytes: NonNegative
    output_bytes: NonNegative
    state: Literal["memory", "worker-died"]  # worker-died: its worker was killed while it ran
    transfer_s: Seconds = 0.0  # the mean time one transfer of its output to another worker took
    arrived_bytes: NonNegative = 0  # other tasks' outputs that arrived while it ran (in its peak increase)


class TraceWorkerMemory(msgspec.Struct, forbid_unknown_fields=True):
    """One worker's memory manager over the recording (trace version 2): the bytes it wrote to its
    spill files, what it still held spilled at the end (sizeof), and the seconds it was paused."""

    spilled_written_bytes: NonNegative | None  # None: the worker did not live to the end
    spilled_end_bytes: NonNegative | None = None
    paused_s: Seconds = 0.0


class TraceEnd(msgspec.Struct, tag="end", tag_field="kind", forbid_unknown_fields=True):
    tasks: NonNegative
    outcome: Literal["ok", "oom", "error"]
    span_s: Seconds  # first task's start to last task's stop
    oom_workers: NonNegative = 0  # workers their nannies killed for memory during the recording
    memory: list[TraceWorkerMemory] = []  # one per worker (version 2)

    @property
    def spilled_written_bytes(self) -> int:
        return sum(w.spilled_written_bytes or 0 for w in self.memory)


_Line = TraceHeader | TraceTask | TraceEnd
_decoder = msgspec.json.Decoder(_Line)
_encoder = msgspec.json.Encoder()


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def write_trace(path: Path, header: TraceHeader, tasks: Iterable[TraceTask], end: TraceEnd) -> None:
    """Line by line into a temporary file beside ``path``, renamed over it when whole."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with open(partial, "wb") as handle:
            for line in (header, *tasks, end):
                handle.write(_encoder.encode(line) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def _lines(path: Path) -> Iterator[tuple[int, _Line]]:
    try:
        handle = open(path, "rb")  # noqa: SIM115 (closed below, after the generator is exhausted)
    except OSError as error:
        raise TraceError(f"{path}: cannot read: {error.strerror or error}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n"):
                raise TraceError(f"{path}: line {number}: cut off (the trace is truncated)")
            try:
                yield number, _decoder.decode(raw)
            except msgspec.ValidationError as error:
                what = "not a memreplay trace: " if number == 1 else ""
                raise TraceError(f"{path}: line {number}: {what}{error}") from None
            except msgspec.DecodeError as error:
                raise TraceError(f"{path}: line {number}: not a memreplay trace line ({error})") from None


def read_header(path: Path) -> TraceHeader:
    for number, line in _lines(path):
        if not isinstance(line, TraceHeader) or line.format != TRACE_FORMAT:
            raise TraceError(f"{path}: line {number}: not a memreplay trace (no header)")
        if line.version not in READABLE_TRACE_VERSIONS:
            readable = " and ".join(map(str, READABLE_TRACE_VERSIONS))
            raise TraceError(f"{path}: trace version {line.version}; this memreplay reads versions {readable}")
        return line
    raise TraceError(f"{path}: empty, not a memreplay trace")


def iter_tasks(path: Path) -> Iterator[TraceTask]:
    """The tasks in order, checked as they are read (see :func:`index_trace` for the checks)."""
    yield from (task for task, _ in _checked(path))


@dataclass(frozen=True)
class TraceIndex:
    """What the replay keeps of a trace: its header and end, and per task (by position) the
    position of the last task that uses its output (-1: none, a result of the pipeline)."""

    header: TraceHeader
    end: TraceEnd
    last_use: array  # type: ignore[type-arg]

    @property
    def tasks(self) -> int:
        return len(self.last_use)


def index_trace(path: Path) -> TraceIndex:
    """Read the whole trace once, checking it: the header's format and version, every line's
    fields (no negative size or duration, ids that are key hashes), each dependency a task that
    came before it (a later one is a cycle or a lost task), and the end line, whose count must
    match (a trace without one was cut short)."""
    path = Path(path)
    last_use = array("q")
    end: TraceEnd | None = None
    for task, end_line in _checked(path, keep_end=True):
        if task is None:
            end = end_line
            continue
        last_use.append(-1)
        for dep in task.deps:
            last_use[dep] = len(last_use) - 1
    assert end is not None  # _checked raises without one
    return TraceIndex(read_header(path), end, last_use)


def _checked(path: Path, keep_end: bool = False) -> Iterator:
    read_header(path)
    count = 0
    end: TraceEnd | None = None
    for number, line in _lines(path):
        if number == 1:
            continue
        if end is not None:
            raise TraceError(f"{path}: line {number}: after the end line")
        if isinstance(line, TraceEnd):
            if line.tasks != count:
                raise TraceError(f"{path}: the end line counts {line.tasks} tasks, the trace has {count} "
                                 "(the trace is truncated)")
            end = line
            if keep_end:
                yield None, line
            continue
        if not isinstance(line, TraceTask):
            raise TraceError(f"{path}: line {number}: a second header")
        for dep in line.deps:
            if dep >= count:
                raise TraceError(f"{path}: line {number}: task {line.id} depends on task {dep}, which does not come "
                                 "before it (a cycle, or a task missing from the trace)")
        count += 1
        yield line, None
    if end is None:
        raise TraceError(f"{path}: no end line (the trace is truncated, or its recording did not finish)")
