"""The per-task memory CSV (``tasks.csv``): its columns and the one reader of it, which yields
typed :class:`TaskRow` objects.

The first three columns are exactly dask-memusage's (``task_key,min_memory_mb,max_memory_mb``,
MB meaning MiB as dask-memusage computes them), so anything that reads its CSV reads ours, and
:func:`read_memusage_csv` reads both.
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Iterator
from pathlib import Path

import msgspec

from memreplay.errors import UserError

__all__ = [
    "COLUMNS", "MEMUSAGE_COLUMNS", "MIB", "TaskRow", "iter_task_rows", "parse_task_key", "read_memusage_csv",
    "read_task_rows",
]

MIB = 1024 * 1024
MEMUSAGE_COLUMNS = ("task_key", "min_memory_mb", "max_memory_mb")
# Before schema 5 a tasks.csv had no arrived_bytes column; such files are still read.
COLUMNS_WITHOUT_ARRIVED = (
    *MEMUSAGE_COLUMNS,
    "task_prefix", "worker", "start", "stop", "duration_s",
    "baseline_bytes", "peak_bytes", "peak_increase_bytes", "input_bytes", "output_bytes",
    "concurrent_tasks", "method", "state", "alias",
)
COLUMNS = (*COLUMNS_WITHOUT_ARRIVED, "arrived_bytes")


class TaskRow(msgspec.Struct, frozen=True):
    """One task execution as the per-task probe measured it. ``peak_bytes`` is the worker's
    absolute peak RSS during the task; ``peak_increase_bytes`` is that peak minus the lowest RSS
    seen at its boundaries and those of tasks overlapping it (the memory the task needed; an
    upper bound where tasks overlapped). Empty cells are None."""

    task_key: str
    min_memory_mb: float | None
    max_memory_mb: float | None
    task_prefix: str
    worker: str
    start: float | None
    stop: float | None
    duration_s: float | None
    baseline_bytes: int | None
    peak_bytes: int | None
    peak_increase_bytes: int | None
    input_bytes: int | None
    output_bytes: int | None
    concurrent_tasks: int | None
    method: str  # clear_refs, sampling, nanny, heartbeat
    state: str  # memory, erred, worker-died, timed-out, unfinished
    alias: bool = False  # dask's alias of another task's output: runs no code, kept out of summaries
    # other tasks' outputs that arrived from other workers while it ran: part of its peak
    # increase, though not its own memory (None: not measured, as before schema 5)
    arrived_bytes: int | None = None

    @property
    def alone(self) -> bool:
        """The task ran alone in its worker: its peak increase holds no neighbour's memory."""
        return self.concurrent_tasks == 1

    @property
    def partition(self) -> int | None:
        """The partition index of the key (``('f-abc', 3)`` → 3), which names the corpus file."""
        return parse_task_key(self.task_key)[1]

    @property
    def group(self) -> str:
        """The key's name without its index: the task group (``f-abc``)."""
        return parse_task_key(self.task_key)[0]


def _number(kind: type, text: str) -> int | float | None:
    return None if text == "" else kind(text)


_BOOLEANS = {"true": True, "false": False}


def iter_task_rows(path: str | Path) -> Iterator[TaskRow]:
    """Each row of a memreplay ``tasks.csv`` as it is read (a large file is never held whole).
    A file that is not one is a one-line UserError naming it and the row."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            if header not in (COLUMNS, COLUMNS_WITHOUT_ARRIVED):
                raise UserError(f"{path}: not a memreplay tasks.csv (header {', '.join(header[:4]) or 'missing'})")
            yield from _rows(path, reader, len(header), has_arrived=header == COLUMNS)
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file") from None
    except csv.Error as error:  # a damaged file: an unclosed quote, a field past csv's size limit
        raise UserError(f"{path}: not a memreplay tasks.csv ({error})") from None


def _rows(path: Path, reader: Iterator[list[str]], width: int, has_arrived: bool) -> Iterator[TaskRow]:
    # A million rows are read for one report: each cell converted inline (no call per cell), and
    # the few distinct prefixes, workers, methods and states held once, not once per row.
    shared: dict[str, str] = {}
    share = shared.setdefault
    for number, cells in enumerate(reader, start=2):
        if not cells:
            continue
        if len(cells) != width:  # a row cut short (a crash mid-write) or not ours
            raise UserError(f"{path}: line {number}: {len(cells)} cells, expected {width}")
        try:
            (key, low, high, prefix, worker, start, stop, duration, baseline, peak, increase, input_bytes, output,
             concurrent, method, state, alias) = cells[:17]
            arrived = cells[17] if has_arrived else ""
            yield TaskRow(
                key, float(low) if low else None, float(high) if high else None, share(prefix, prefix),
                share(worker, worker), float(start) if start else None, float(stop) if stop else None,
                float(duration) if duration else None, int(baseline) if baseline else None,
                int(peak) if peak else None, int(increase) if increase else None,
                int(input_bytes) if input_bytes else None, int(output) if output else None,
                int(concurrent) if concurrent else None, share(method, method), share(state, state),
                _BOOLEANS[alias], int(arrived) if arrived else None)
        except KeyError:
            raise UserError(f"{path}: line {number}: alias must be true or false") from None
        except ValueError as error:
            raise UserError(f"{path}: line {number}: {error}") from None


def read_task_rows(path: str | Path) -> list[TaskRow]:
    return list(iter_task_rows(path))


def read_memusage_csv(path: str | Path) -> list[tuple[str, float | None, float | None]]:
    """(task_key, min MB, max MB) from a dask-memusage CSV or a memreplay one."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(header[:3]) != MEMUSAGE_COLUMNS:
            raise UserError(f"{path}: not a dask-memusage CSV (header {header!r})")
        return [(row[0], _number(float, row[1]), _number(float, row[2])) for row in reader if row]


def parse_task_key(task_key: str) -> tuple[str, int | None]:
    """``"('sum-abc', 3)"`` → ``("sum-abc", 3)``; a plain string key → ``(key, None)``."""
    if task_key.startswith("("):
        try:
            parsed = ast.literal_eval(task_key)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # not a tuple key after all
            return task_key, None
        if isinstance(parsed, tuple) and parsed:
            index = parsed[-1] if len(parsed) > 1 and isinstance(parsed[-1], int) else None
            return str(parsed[0]), index
    return task_key, None
