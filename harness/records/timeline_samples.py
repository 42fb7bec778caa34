"""The memory timeline CSV (``timeline.csv``): RSS over time per process and, for each worker,
what Dask's memory manager held at the same moment. Its one writer and its one reader."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from memreplay.errors import UserError

__all__ = ["COLUMNS", "SCHEDULER", "Sample", "TimelineRow", "read_timeline", "write_timeline"]

Sample = tuple[float, str, int]  # a process's RSS: seconds (or unix time), process name, bytes
COLUMNS = ("time_s", "process", "rss_bytes", "managed_bytes", "spilled_memory_bytes", "spilled_disk_bytes", "paused")
COLUMNS_BEFORE_7 = COLUMNS[:3]  # RSS only: still read
SCHEDULER = "scheduler"  # the process name of the scheduler; every other process is a worker


class TimelineRow(NamedTuple):
    """One sample. The memory manager's figures (Dask's words) are a worker's, None for the
    scheduler and in timelines written before schema 7: managed is the sizeof of the data the
    worker holds in memory; spilled is what it moved to disk (its sizeof, and its size there);
    unmanaged is RSS minus managed."""

    time_s: float
    process: str
    rss_bytes: int
    managed_bytes: int | None = None
    spilled_memory_bytes: int | None = None
    spilled_disk_bytes: int | None = None
    paused: bool | None = None

    @property
    def unmanaged_bytes(self) -> int | None:
        return None if self.managed_bytes is None else max(0, self.rss_bytes - self.managed_bytes)


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    return value


def write_timeline(path: Path, rows: Iterable[TimelineRow]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows((f"{row.time_s:.3f}", row.process, row.rss_bytes, *map(_cell, row[3:])) for row in rows)


def _optional(text: str) -> int | None:
    return None if text == "" else int(text)


def read_timeline(path: Path) -> list[TimelineRow]:
    """A file that is not a timeline is a one-line UserError naming it."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            if header == COLUMNS_BEFORE_7:
                return [TimelineRow(float(t), name, int(rss)) for t, name, rss in reader]
            if header != COLUMNS:
                raise UserError(f"{path}: not a memreplay timeline.csv (header is not {','.join(COLUMNS)})")
            return [TimelineRow(float(t), name, int(rss), _optional(managed), _optional(memory), _optional(disk),
                                None if paused == "" else paused == "1")
                    for t, name, rss, managed, memory, disk, paused in reader]
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: not a memreplay timeline.csv ({str(error).splitlines()[0]})") from None
