"""The one interface every probe implements; the runner only ever talks to this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Probe", "ProbeContext"]


@dataclass(frozen=True)
class ProbeContext:
    case_dir: Path  # where the probe writes its files
    input_bytes: list[int] = field(default_factory=list)  # the workload's size hint per partition


class Probe(Protocol):
    name: str

    def start(self, cluster: Any, context: ProbeContext) -> None:
        """Begin measuring on a running cluster, before any task is submitted."""
        ...

    def stop(self, outcome: str) -> Any:
        """Stop measuring (``outcome``: how the case ended, so far); return the typed part of the
        case record (``CaseResult.<name>``)."""
        ...
