"""Start a fresh LocalCluster for one case, so no memory is carried over between cases."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dask
from distributed import Client, LocalCluster

from harness.plan.cluster_config import ClusterConfig

__all__ = ["CLUSTER_SETTINGS", "local_cluster"]

# A task that kills its worker is a result to record, not something to retry elsewhere.
CLUSTER_SETTINGS: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.admin.tick.limit": "1h",  # a long task is not an event-loop stall
}


@contextmanager
def local_cluster(config: ClusterConfig) -> Iterator[tuple[LocalCluster, Client]]:
    with dask.config.set(CLUSTER_SETTINGS):
        with LocalCluster(
            n_workers=config.n_workers,
            threads_per_worker=config.threads_per_worker,
            memory_limit=config.memory_limit,
            processes=config.processes,
            dashboard_address=None,
            # the scheduler's HTTP endpoints (health, metrics) on any free loopback port: two
            # cases or two memreplay runs at once never fight over 8787
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.CRITICAL,  # failures are recorded as outcomes, not logged twice
        ) as cluster, Client(cluster) as client:
            yield cluster, client
