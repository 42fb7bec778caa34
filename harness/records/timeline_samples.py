"""The memory timeline CSV (``timeline.csv``): RSS over time per process. Its one writer and
its one reader."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from memreplay.errors import UserError

__all__ = ["COLUMNS", "SCHEDULER", "Sample", "read_timeline", "write_timeline"]

Sample = tuple[float, str, int]  # seconds since the case started, process name, RSS bytes
COLUMNS = ("time_s", "process", "rss_bytes")
SCHEDULER = "scheduler"  # the process name of the scheduler; every other process is a worker


def write_timeline(path: Path, samples: Iterable[Sample]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows((f"{t:.3f}", name, rss) for t, name, rss in samples)


def read_timeline(path: Path) -> list[Sample]:
    """A file that is not a timeline is a one-line UserError naming it."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            if tuple(next(reader, ())) != COLUMNS:
                raise UserError(f"{path}: not a memreplay timeline.csv (header is not {','.join(COLUMNS)})")
            return [(float(t), name, int(rss)) for t, name, rss in reader]
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError, csv.Error) as error:
        raise UserError(f"{path}: not a memreplay timeline.csv ({str(error).splitlines()[0]})") from None
