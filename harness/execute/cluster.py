"""A fresh cluster for one case, so no memory is carried over between cases: the scheduler in a
process of its own (``dask scheduler``, under the case's scheduler preset), the workers as
LocalCluster makes them (nanny-supervised processes, or threads of this process)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, Nanny, SpecCluster, Worker

from harness.execute.scheduler_process import SchedulerProcess
from harness.plan.cluster_config import ClusterConfig

__all__ = ["CLUSTER_SETTINGS", "SCHEDULER_LOG", "case_cluster", "local_cluster"]

# A task that kills its worker is a result to record, not something to retry elsewhere.
CLUSTER_SETTINGS: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.admin.tick.limit": "1h",  # a long task is not an event-loop stall
}
SCHEDULER_LOG = "scheduler.log"


@contextmanager
def case_cluster(config: ClusterConfig, case_dir: Path,
                 scheduler_settings: dict[str, Any] | None = None) -> Iterator[tuple[SpecCluster, Client]]:
    """The cluster of one case; ``scheduler_settings`` (dask config keys) apply to its scheduler
    only, on top of the settings every case has. The scheduler's output goes to
    ``case_dir/scheduler.log``."""
    settings = {**CLUSTER_SETTINGS, **(scheduler_settings or {})}
    worker = {"cls": Nanny if config.processes else Worker, "options": {
        "host": "127.0.0.1", "nthreads": config.threads_per_worker, "memory_limit": config.memory_limit,
        "dashboard": False, "silence_logs": logging.CRITICAL,  # failures are recorded as outcomes, not logged twice
    }}
    scheduler = {"cls": SchedulerProcess, "options": {"settings": settings,
                                                      "log": str(case_dir.resolve() / SCHEDULER_LOG)}}
    case_dir.mkdir(parents=True, exist_ok=True)
    with dask.config.set(CLUSTER_SETTINGS):  # the workers' side of the same settings
        with SpecCluster(workers=dict.fromkeys(range(config.n_workers), worker), worker=worker, scheduler=scheduler,
                         silence_logs=logging.CRITICAL, name="memreplay") as cluster, Client(cluster) as client:
            yield cluster, client


@contextmanager
def local_cluster(config: ClusterConfig) -> Iterator[tuple[LocalCluster, Client]]:
    """A LocalCluster whose scheduler runs in this process: for the studies and tests that attach
    to the scheduler object itself (as a preload would), such as the probe-accuracy study."""
    with dask.config.set(CLUSTER_SETTINGS):
        with LocalCluster(
            n_workers=config.n_workers, threads_per_worker=config.threads_per_worker,
            memory_limit=config.memory_limit, processes=config.processes, dashboard_address=None,
            # the scheduler's HTTP endpoints on any free loopback port: two runs never fight over 8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.CRITICAL,
        ) as cluster, Client(cluster) as client:
            yield cluster, client
