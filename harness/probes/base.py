"""The one interface every probe implements; the runner only ever talks to this. Probes reach
the cluster only through its client: the scheduler runs in a process of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Probe", "ProbeContext", "on_scheduler"]


@dataclass(frozen=True)
class ProbeContext:
    case_dir: Path  # where the probe writes its files
    input_bytes: list[int] = field(default_factory=list)  # the workload's size hint per partition
    scheduler_preset: str = "default"  # the scheduler preset the case runs under
    memory_thresholds: str = "default"  # the memory preset its workers run under
    scheduler_is_local: bool = True  # a file the scheduler writes is a file of this machine


class Probe(Protocol):
    name: str

    def start(self, client: Any, context: ProbeContext) -> None:
        """Begin measuring on a running cluster (``client``'s), before any task is submitted."""
        ...

    def stop(self, outcome: str) -> Any:
        """Stop measuring (``outcome``: how the case ended, so far); return the typed part of the
        case record (``CaseResult.<name>``)."""
        ...


def _with_scheduler(function: Callable[..., Any], *args: Any, dask_scheduler: Any) -> Any:
    return function(dask_scheduler, *args)


def on_scheduler(client: Any, function: Callable[..., Any], *args: Any) -> Any:
    """``function(scheduler, *args)`` run inside the scheduler's process, its result returned."""
    return client.run_on_scheduler(_with_scheduler, function, *args)
