"""The cluster of one case, from where the plan says (:mod:`memreplay.plan.cluster_source`):

- memreplay's own, fresh per case so no memory is carried over: the scheduler in a process of
  its own (``dask scheduler``, under the case's scheduler preset), the workers as LocalCluster
  makes them (nanny-supervised processes, or threads of this process);
- a cluster manager's, fresh per case, started in the case's shape;
- a running cluster, as it is, whose shape must be the case's.

Either way the cluster is described as it was at the start (its address, every worker's shape
and package versions), and a shape other than the case's is refused."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, Nanny, SpecCluster, Worker
from distributed.security import Security

from memreplay.compat import cluster_versions
from memreplay.errors import UserError
from memreplay.execute.scheduler_process import SchedulerProcess
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.cluster_source import ClusterSource, TlsFiles, manager_arguments, resolve_manager
from memreplay.plan.sizes import compact_bytes
from memreplay.records.schema import ClusterRecord, WorkerRecord

__all__ = ["CLUSTER_SETTINGS", "SCHEDULER_LOG", "CaseCluster", "case_cluster", "check_running", "local_cluster",
           "open_cluster", "running_config", "running_shape"]

# A task that kills its worker is a result to record, not something to retry elsewhere.
CLUSTER_SETTINGS: dict[str, Any] = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.admin.tick.limit": "1h",  # a long task is not an event-loop stall
}
SCHEDULER_LOG = "scheduler.log"


@contextmanager
def case_cluster(config: ClusterConfig, case_dir: Path, scheduler_settings: dict[str, Any] | None = None,
                 worker_settings: dict[str, Any] | None = None) -> Iterator[tuple[SpecCluster, Client]]:
    """The cluster of one case; ``scheduler_settings`` (dask config keys) apply to its scheduler
    only, ``worker_settings`` (its memory preset) to its workers, on top of the settings every
    case has. The scheduler's output goes to ``case_dir/scheduler.log``."""
    settings = {**CLUSTER_SETTINGS, **(scheduler_settings or {})}
    worker = {"cls": Nanny if config.processes else Worker, "options": {
        "host": "127.0.0.1", "nthreads": config.threads_per_worker, "memory_limit": config.memory_limit,
        "dashboard": False, "silence_logs": logging.CRITICAL,  # failures are recorded as outcomes, not logged twice
    }}
    scheduler = {"cls": SchedulerProcess, "options": {"settings": settings,
                                                      "log": str(case_dir.resolve() / SCHEDULER_LOG)}}
    case_dir.mkdir(parents=True, exist_ok=True)
    # the workers' side: a nanny keeps the configuration it was made under, for its worker's restarts too
    with dask.config.set({**CLUSTER_SETTINGS, **(worker_settings or {})}), ExitStack() as stack:
        with _interrupt_left_to_this_thread():
            cluster = stack.enter_context(SpecCluster(
                workers=dict.fromkeys(range(config.n_workers), worker), worker=worker, scheduler=scheduler,
                silence_logs=logging.CRITICAL, name="memreplay"))
            client = stack.enter_context(Client(cluster))
        yield cluster, client


@contextmanager
def _interrupt_left_to_this_thread() -> Iterator[None]:
    """SIGINT blocked while a cluster starts: the thread of its event loop inherits the block, and
    so does every process that thread starts (the scheduler, the worker processes, a nanny's
    restarts). A Ctrl-C at the terminal reaches the whole process group; this way only memreplay's
    main thread takes it, and closes the cluster in order, instead of each process dying with a
    traceback of its own. The main thread's interrupt waits until the cluster is up."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


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


# The packages whose versions must agree across the client, the scheduler and the workers.
COMPARED_PACKAGES = ("python", "dask", "distributed", "msgpack", "cloudpickle", "toolz", "numpy", "memreplay")
CONNECT_S = 30  # to reach a running scheduler
WORKERS_S = 600  # for a manager's workers to come up (a batch queue can take minutes)


@dataclass(frozen=True)
class CaseCluster:
    client: Client
    record: ClusterRecord
    scheduler_is_local: bool  # a path written by the scheduler is a path here (memreplay's own scheduler)


@contextmanager
def open_cluster(source: ClusterSource, config: ClusterConfig, case_dir: Path,
                 scheduler_settings: dict[str, Any] | None = None,
                 worker_settings: dict[str, Any] | None = None) -> Iterator[CaseCluster]:
    """The cluster one case runs on, with a client; refuses (UserError) a cluster whose shape is
    not ``config``'s. ``worker_settings`` (a memory preset) apply to memreplay's own workers
    only: the plan refuses them for any other cluster."""
    if source.kind == "own":
        with case_cluster(config, case_dir, scheduler_settings, worker_settings) as (_, client):
            yield CaseCluster(client, describe_cluster(client, source), scheduler_is_local=True)
    elif source.kind == "manager":
        assert source.manager is not None
        what = "matrix.cluster"
        arguments, scale_to = manager_arguments(resolve_manager(source.manager, what), source.manager,
                                                source.options, config, what)
        with dask.config.set(CLUSTER_SETTINGS), resolve_manager(source.manager, what)(**arguments) as cluster:
            if scale_to is not None:
                cluster.scale(scale_to)
            with Client(cluster) as client:
                client.wait_for_workers(config.n_workers, timeout=WORKERS_S)
                _check_shape(client, config, source)
                yield CaseCluster(client, describe_cluster(client, source), scheduler_is_local=False)
    else:
        with connect(source) as client:
            _check_shape(client, config, source)
            yield CaseCluster(client, describe_cluster(client, source), scheduler_is_local=False)


def security(tls: TlsFiles | None) -> Security | None:
    if tls is None:
        return None
    return Security(tls_ca_file=tls.ca_file, tls_client_cert=tls.cert, tls_client_key=tls.key,
                    require_encryption=True)


@contextmanager
def connect(source: ClusterSource) -> Iterator[Client]:
    """A client of the running cluster at ``source.address``; one line if it cannot be reached."""
    try:
        client = Client(source.address, security=security(source.tls), timeout=CONNECT_S)
    except (OSError, TimeoutError, ValueError) as error:
        raise UserError(f"--scheduler {source.address}: cannot connect: {str(error).splitlines()[0]}") from None
    with client:
        yield client


def _workers(client: Client) -> dict[str, dict[str, Any]]:
    return dict(client.scheduler_info(n_workers=-1)["workers"])


def running_shape(client: Client, what: str) -> ClusterConfig:
    """The shape of a cluster whose workers are all alike; one line if they are not, or if there are none."""
    workers = _workers(client)
    if not workers:
        raise UserError(f"{what}: the cluster has no workers")
    shapes = {(info["nthreads"], info.get("memory_limit") or 0) for info in workers.values()}
    if len(shapes) > 1:
        shown = ", ".join(f"{threads} threads {compact_bytes(limit) if limit else 'no limit'}"
                          for threads, limit in sorted(shapes))
        raise UserError(f"{what}: the workers are not alike ({shown}): memreplay sizes workers of one shape")
    threads, limit = shapes.pop()
    if not limit:
        raise UserError(f"{what}: the workers have no memory limit; start them with --memory-limit")
    return ClusterConfig(n_workers=len(workers), threads_per_worker=threads, memory_limit=limit)


def running_config(source: ClusterSource, refused: dict[str, object]) -> ClusterConfig:
    """``memreplay run --scheduler``: the case's configuration is the running cluster's shape;
    ``refused``: shape options given on the command line (not None), which it replaces."""
    given = [option for option, value in refused.items() if value is not None]
    if given:
        raise UserError(f"{given[0]}: with --scheduler the shape is the running cluster's, read from it; leave it out")
    with connect(source) as client:
        return running_shape(client, "--scheduler")


def check_running(source: ClusterSource, configs: list[ClusterConfig]) -> None:
    """Refuse a matrix whose shapes are not the running cluster's, before any case."""
    with connect(source) as client:
        shape = running_shape(client, "--scheduler")
    for config in configs:
        if (shape.n_workers, shape.threads_per_worker, shape.memory_limit) != (
                config.n_workers, config.threads_per_worker, config.memory_limit):
            raise UserError(f"--scheduler: the running cluster at {source.address} is {shape.label}, the matrix "
                            f"asks {config.label}: a running cluster is used as it is; give shapes = "
                            f"[[{shape.n_workers}, {shape.threads_per_worker}]] and memory_limits = "
                            f"[\"{compact_bytes(shape.memory_limit)}\"]")


def _check_shape(client: Client, config: ClusterConfig, source: ClusterSource) -> None:
    what = "--scheduler" if source.kind == "running" else "matrix.cluster"
    shape = running_shape(client, what)
    if (shape.n_workers, shape.threads_per_worker, shape.memory_limit) != (
            config.n_workers, config.threads_per_worker, config.memory_limit):
        raise UserError(f"{what}: {source.description} has {shape.label.removesuffix('-threads')}, "
                        f"the case asks {config.label}")


def describe_cluster(client: Client, source: ClusterSource) -> ClusterRecord:
    """The cluster as it is now: its address, every worker's shape and package versions, and a
    warning for every version that differs from this process's."""
    versions = cluster_versions(client, ["numpy", "memreplay"])
    mine = versions["client"]["packages"]
    workers = _workers(client)
    warnings = []
    for where, reported in [("the scheduler", versions["scheduler"]), *versions["workers"].items()]:
        packages = reported.get("packages", {}) if isinstance(reported, dict) else {}
        for name in COMPARED_PACKAGES:
            if packages.get(name) != mine.get(name):
                warnings.append(f"{where} has {name} {packages.get(name)}, memreplay's process {mine.get(name)}")
    return ClusterRecord(
        kind=source.kind, manager=source.manager, address=client.scheduler.address,
        scheduler_packages={name: versions["scheduler"]["packages"].get(name) for name in COMPARED_PACKAGES},
        workers=[WorkerRecord(
            address=address, host=str(info.get("host")), nthreads=info["nthreads"],
            memory_limit=info.get("memory_limit") or None,
            packages={name: versions["workers"].get(address, {}).get("packages", {}).get(name)
                      for name in COMPARED_PACKAGES},
        ) for address, info in sorted(workers.items())],
        version_warnings=warnings,
    )
