"""Workloads for the Fil tests, resolvable as ``tests.helpers.fil_workloads:NAME`` in a subprocess."""

from __future__ import annotations

from pathlib import Path

from memreplay.workloads import Workload


def _crash(path: Path) -> None:
    raise RuntimeError(f"crashing on purpose while reading {path.name}")


crashing = Workload("crashing", 1, "raises inside its task", "text", build=lambda corpus: None, task_function=_crash)
