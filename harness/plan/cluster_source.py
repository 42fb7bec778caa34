"""Where a case's cluster comes from: memreplay's own (a fresh scheduler process and local
workers), a cluster manager class named in the matrix (a fresh cluster per case, the case's
shape mapped onto the class's arguments), or a running cluster at a scheduler address.

Everything that can be refused is refused here, before any cluster starts: a class that cannot
be imported or cannot express a case's shape, ``[cluster]`` arguments that fight the shape,
a scheduler preset or thread-workers where memreplay does not start the scheduler itself.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import msgspec

from memreplay.errors import UserError
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.sizes import compact_bytes

__all__ = ["OWN", "ClusterSource", "TlsFiles", "check_configs", "manager_arguments", "resolve_manager",
           "running_source"]

# Where a class takes each part of a shape, in the order tried. A class that takes per-worker
# keyword arguments as a dict (SubprocessCluster's worker_kwargs, coiled's worker_options) gets
# nthreads and memory_limit there when it has no argument of its own for them.
_WORKERS = ("n_workers",)
_THREADS = ("threads_per_worker", "cores")  # dask-jobqueue: cores of one job, one worker per job
_MEMORY = ("memory_limit", "memory")  # dask-jobqueue: memory of one job
_PER_WORKER = ("worker_kwargs", "worker_options")
_STRING_MEMORY = {"memory"}  # dask-jobqueue wants "4GiB", not bytes


class TlsFiles(msgspec.Struct, frozen=True, kw_only=True):
    """dask's own CLI options for a TLS scheduler: ``--tls-ca-file --tls-cert --tls-key``."""

    ca_file: str | None = None
    cert: str | None = None
    key: str | None = None


class ClusterSource(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["own", "manager", "running"] = "own"
    manager: str | None = None  # "package.module:Class", for kind "manager"
    options: dict[str, Any] = {}  # the matrix's [cluster] table: fixed keyword arguments of the class
    address: str | None = None  # the running cluster's scheduler, for kind "running"
    tls: TlsFiles | None = None

    @property
    def description(self) -> str:
        if self.kind == "manager":
            return f"a fresh {self.manager} per case"
        if self.kind == "running":
            return f"the running cluster at {self.address}"
        return "a fresh local cluster per case (memreplay's own scheduler process)"


OWN = ClusterSource()


def running_source(address: str | None, ca_file: str | None, cert: str | None, key: str | None) -> ClusterSource | None:
    """``--scheduler ADDRESS`` and dask's TLS options, checked; None without ``--scheduler``."""
    files = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if address is None:
        given = [option for option, value in files.items() if value is not None]
        if given:
            raise UserError(f"{given[0]}: only with --scheduler ADDRESS")
        return None
    if not address.strip():
        raise UserError("--scheduler: give the scheduler's address, e.g. tcp://10.0.0.5:8786")
    for option, value in files.items():
        if value is not None and not Path(value).is_file():
            raise UserError(f"{option}: no such file: {value}")
    if any(files.values()) and not all(files.values()):
        raise UserError("--tls-ca-file, --tls-cert and --tls-key: give all three for a TLS scheduler")
    tls = TlsFiles(ca_file=ca_file, cert=cert, key=key) if ca_file else None
    if tls is None and address.startswith("tls://"):
        raise UserError(f"--scheduler {address}: a TLS scheduler needs --tls-ca-file, --tls-cert and --tls-key")
    return ClusterSource(kind="running", address=address, tls=tls)


def resolve_manager(reference: object, what: str) -> Callable[..., Any]:
    """``package.module:Class`` (or a function returning a cluster, as SubprocessCluster is)."""
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise UserError(f"{what}: give the cluster manager as package.module:Class, got {reference!r}")
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # a missing package is the user's environment, said in one line
        raise UserError(f"{what}: cannot import {module_name!r}: {str(error).splitlines()[0]}") from None
    manager = getattr(module, attribute, None)
    if not callable(manager):
        raise UserError(f"{what}: module {module_name!r} has no class {attribute!r}")
    return manager  # type: ignore[no-any-return]


def _named_parameters(function: Callable[..., Any]) -> tuple[set[str], bool]:
    """The keyword arguments ``function`` names, and whether it takes ``**kwargs`` too."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return set(), False
    kinds = {name: parameter.kind for name, parameter in signature.parameters.items()}
    return ({name for name, kind in kinds.items() if kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                              inspect.Parameter.KEYWORD_ONLY)},
            inspect.Parameter.VAR_KEYWORD in kinds.values())


def _parameters(manager: Callable[..., Any]) -> set[str]:
    names, more = _named_parameters(manager)
    # dask-jobqueue: a cluster (SLURMCluster ...) takes cores, memory and processes in its
    # **job_kwargs and hands them to its job class (SLURMJob, whose own **kwargs go to Job)
    job_class = getattr(manager, "job_cls", None)
    if more and isinstance(job_class, type):
        for base in job_class.__mro__:
            if "__init__" in vars(base) and base is not object:
                names |= _named_parameters(base.__init__)[0] - {"self"}
    return names


def _first(names: Iterable[str], parameters: set[str]) -> str | None:
    return next((name for name in names if name in parameters), None)


def manager_arguments(manager: Callable[..., Any], reference: str, options: dict[str, Any],
                      config: ClusterConfig, what: str) -> tuple[dict[str, Any], int | None]:
    """The keyword arguments that start ``manager`` in ``config``'s shape, over ``options``; and
    the worker count to ``scale()`` to afterwards, for a class that takes none at start."""
    parameters = _parameters(manager)
    nested_name = _first(_PER_WORKER, parameters)
    if nested_name and not isinstance(options.get(nested_name, {}), dict):
        raise UserError(f"{what}: cluster.{nested_name}: must be a table")
    nested = dict(options.get(nested_name, {})) if nested_name else {}
    arguments = {key: value for key, value in options.items() if key != nested_name}
    shaped: list[str] = []

    def put(names: tuple[str, ...], nested_key: str, value: Callable[[str], Any], part: str) -> None:
        name = _first(names, parameters)
        if name is not None:
            arguments[name] = value(name)
            shaped.append(name)
        elif nested_name is not None:
            nested[nested_key] = value(nested_key)
            shaped.append(f"{nested_name}.{nested_key}")
        else:
            raise UserError(f"{what}: {reference} cannot set a worker's {part} (it has no "
                            f"{', '.join(names + _PER_WORKER)} argument)")

    put(_THREADS, "nthreads", lambda _: config.threads_per_worker, "threads")
    limit = config.memory_limit
    put(_MEMORY, "memory_limit", lambda name: compact_bytes(limit) if name in _STRING_MEMORY else limit, "memory limit")
    if "cores" in shaped and "processes" in parameters:
        arguments["processes"] = 1  # dask-jobqueue: one worker per job, its cores as threads
        shaped.append("processes")
    elif "processes" in parameters:
        arguments["processes"] = config.processes
        shaped.append("processes")
    elif not config.processes:
        raise UserError(f"{what}: {reference} starts its workers as processes: matrix.processes must be [true]")
    scale_to: int | None = None
    if _first(_WORKERS, parameters):
        arguments["n_workers"] = config.n_workers
        shaped.append("n_workers")
    elif callable(getattr(manager, "scale", None)):
        scale_to = config.n_workers
    else:
        raise UserError(f"{what}: {reference} can set neither n_workers nor scale(): it cannot be given a worker count")
    if nested_name is not None and nested:
        arguments[nested_name] = nested
    clash = sorted(set(shaped) & ({f"{nested_name}.{k}" for k in options.get(nested_name, {})} | set(options)))
    if clash:
        raise UserError(f"{what}: cluster.{clash[0]} is set by each case's shape (workers × threads × memory limit); "
                        "remove it from [cluster]")
    return arguments, scale_to


def check_configs(source: ClusterSource, configs: Iterable[ClusterConfig], what: str) -> None:
    """Refuse, before anything starts, a case that ``source`` cannot run as planned."""
    for config in configs:
        if source.kind != "own" and config.scheduler_preset != "default":
            raise UserError(f"{what}: scheduler preset {config.scheduler_preset!r} needs memreplay's own scheduler "
                            f"process; {source.description} runs its scheduler as it is configured")
        if source.kind != "own" and config.memory_thresholds != "default":
            raise UserError(f"{what}: memory preset {config.memory_thresholds!r} needs memreplay's own workers; "
                            f"{source.description} runs its workers as they are configured")
        if source.kind == "running" and not config.processes:
            raise UserError(f"{what}: a running cluster's workers are not threads of memreplay: processes must be true")
        if source.kind == "manager":
            assert source.manager is not None
            manager_arguments(resolve_manager(source.manager, what), source.manager, source.options, config, what)
