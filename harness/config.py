"""Cluster configurations: the shape (workers × threads × memory limit) a case runs on."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

import psutil
from dask.utils import format_bytes, parse_bytes

from harness.errors import UserError

__all__ = ["ClusterConfig", "compact_bytes", "default_config", "parse_memory_limit"]


def compact_bytes(value: int) -> str:
    """``4294967296`` → ``4GiB``; exact binary units where they fit, else dask's rounding."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return format_bytes(value).replace(" ", "")


def parse_memory_limit(text: str | int, what: str = "memory limit") -> int:
    """``"4GiB"`` → bytes; a one-line UserError for anything that is not a positive size."""
    try:
        value = int(text) if isinstance(text, int) else parse_bytes(str(text))
    except (ValueError, TypeError):
        raise UserError(f"{what} {text!r} is not a size (try 4GiB or 500MiB)") from None
    if value <= 0:
        raise UserError(f"{what} must be greater than 0, got {text!r}")
    return value


@dataclass(frozen=True)
class ClusterConfig:
    n_workers: int
    threads_per_worker: int
    memory_limit: int  # bytes per worker
    processes: bool = True

    def __post_init__(self) -> None:
        for name in ("n_workers", "threads_per_worker"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name} must be a whole number of at least 1, got {value!r}")
        if self.memory_limit <= 0:
            raise UserError(f"memory limit must be greater than 0, got {self.memory_limit}")

    @property
    def label(self) -> str:
        """Short name used in directory names and tables, e.g. ``2x1-4GiB``."""
        mode = "" if self.processes else "-threads"
        return f"{self.n_workers}x{self.threads_per_worker}-{compact_bytes(self.memory_limit)}{mode}"

    @property
    def total_memory(self) -> int:
        return self.n_workers * self.memory_limit

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def default_config() -> ClusterConfig:
    """One single-threaded worker per core, sharing three quarters of the RAM."""
    cores = os.cpu_count() or 1
    ram = psutil.virtual_memory().total
    step = 256 * 2**20
    per_worker = max(step, int(ram * 0.75 / cores) // step * step)
    return ClusterConfig(n_workers=cores, threads_per_worker=1, memory_limit=per_worker)
