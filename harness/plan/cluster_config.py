"""Cluster configurations: the shape (workers × threads × memory limit) a case runs on."""

from __future__ import annotations

import os

import msgspec
import psutil
from dask.utils import format_bytes

from memreplay.errors import UserError
from memreplay.plan.sizes import compact_bytes, parse_size

__all__ = ["MIN_WORKER_MEMORY", "ClusterConfig", "check_memory_limit", "config_from_options", "default_config"]

# A worker process holds about 100–150 MiB before it runs anything: below this it cannot start.
MIN_WORKER_MEMORY = 256 * 2**20


class ClusterConfig(msgspec.Struct, frozen=True):
    n_workers: int
    threads_per_worker: int
    memory_limit: int  # bytes per worker
    processes: bool = True
    scheduler_preset: str = "default"  # configs/scheduler/<preset>.toml: the scheduler's log sizes
    memory_thresholds: str = "default"  # configs/memory/<preset>.toml: the workers' memory manager (schema 7)

    def __post_init__(self) -> None:
        for name in ("n_workers", "threads_per_worker", "memory_limit"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"{name} must be a whole number of at least 1, got {value!r}")

    @property
    def label(self) -> str:
        """Short name used in case ids and tables, e.g. ``2x1-4GiB`` (``2x1-4GiB-trimmed`` under a
        scheduler preset other than the default, ``2x1-4GiB-no-spill`` under a memory preset)."""
        mode = "" if self.processes else "-threads"
        presets = "".join(f"-{name}" for name in (self.scheduler_preset, self.memory_thresholds) if name != "default")
        return f"{self.n_workers}x{self.threads_per_worker}-{compact_bytes(self.memory_limit)}{mode}{presets}"

    @property
    def shape(self) -> str:
        return f"{self.n_workers}x{self.threads_per_worker}"

    @property
    def total_memory(self) -> int:
        return self.n_workers * self.memory_limit


def check_memory_limit(limit: int, what: str) -> int:
    """A per-worker limit a worker can start with and the machine can honour: dask would
    silently clamp a larger one to the machine's RAM."""
    ram = psutil.virtual_memory().total
    if limit < MIN_WORKER_MEMORY:
        raise UserError(f"{what}: {compact_bytes(limit)} is too small for a worker to start "
                        f"(at least {compact_bytes(MIN_WORKER_MEMORY)})")
    if limit > ram:
        raise UserError(f"{what}: {compact_bytes(limit)} is more than this machine's RAM ({format_bytes(ram)}); "
                        "dask would silently use the RAM instead")
    return limit


def default_config() -> ClusterConfig:
    """One single-threaded worker per core, sharing three quarters of the RAM."""
    cores = os.cpu_count() or 1
    ram = psutil.virtual_memory().total
    step = 256 * 2**20
    per_worker = max(step, int(ram * 0.75 / cores) // step * step)
    return ClusterConfig(n_workers=cores, threads_per_worker=1, memory_limit=per_worker)


def config_from_options(workers: int | None, threads: int | None, memory_limit: str | None,
                        processes: bool = True) -> ClusterConfig:
    """``memreplay run``'s options, each falling back to :func:`default_config`."""
    if not processes and memory_limit is not None:
        raise UserError("--memory-limit: not enforced with --no-processes (the workers are threads of this process, "
                        "with no nanny to stop them); leave it out, or run workers in processes")
    fallback = default_config()
    return ClusterConfig(
        n_workers=fallback.n_workers if workers is None else workers,
        threads_per_worker=fallback.threads_per_worker if threads is None else threads,
        memory_limit=fallback.memory_limit if memory_limit is None else check_memory_limit(
            parse_size(memory_limit, "--memory-limit"), "--memory-limit"),
        processes=processes,
    )
