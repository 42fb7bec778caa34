"""Configuration matrices (TOML): workloads × shapes × memory limits × processes, resolved into
the list of cases a sweep runs. Every problem is reported before any cluster starts, as one
line naming the file, the key and the problem."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.utils import parse_bytes

from harness.config import ClusterConfig, compact_bytes
from harness.errors import UserError, read_toml
from workloads import Workload, WorkloadError, resolve_workload

__all__ = ["MIN_WORKER_MEMORY", "Matrix", "SweepCase", "load_matrix"]

# A worker process holds about 100–150 MiB before it runs anything: below this it cannot start.
MIN_WORKER_MEMORY = 256 * 2**20

_AXES = {"workloads", "n_workers", "threads_per_worker", "shapes", "memory_limits", "processes"}
_SETTINGS = {"scale", "repeats", "timeout_s", "profile"}
_SECTIONS = {"matrix", "quick"}


@dataclass(frozen=True)
class SweepCase:
    workload: Workload
    config: ClusterConfig
    repeat: int

    @property
    def id(self) -> str:
        return f"{self.workload.slug}-{self.config.label}-r{self.repeat}"

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "workload": self.workload.name, "repeat": self.repeat, **self.config.describe()}


@dataclass(frozen=True)
class Matrix:
    source: str
    scale: float
    repeats: int
    timeout_s: float
    profile: bool  # Fil-profile each workload's hungriest task after the cases
    cases: tuple[SweepCase, ...]

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "scale": self.scale, "repeats": self.repeats, "timeout_s": self.timeout_s,
                "profile": self.profile, "cases": [case.describe() for case in self.cases]}


def load_matrix(path: str | Path, quick: bool = False) -> Matrix:
    """Read and validate a matrix; with ``quick``, the ``[quick]`` table overrides ``[matrix]``."""
    path = Path(path)
    document = read_toml(path, "matrix")
    _refuse_unknown(path, "", document, _SECTIONS)
    if "matrix" not in document:
        raise UserError(f"{path}: missing [matrix] table")
    for section in _SECTIONS & document.keys():
        if not isinstance(document[section], dict):
            raise UserError(f"{path}: {section}: must be a table")
        _refuse_unknown(path, f"{section}.", document[section], _AXES | _SETTINGS)
    table = {**document["matrix"], **(document.get("quick", {}) if quick else {})}
    return _resolve(path, table)


def _refuse_unknown(path: Path, prefix: str, table: dict[str, Any], known: set[str]) -> None:
    for key in table:
        if key not in known:
            raise UserError(f"{path}: {prefix}{key}: unknown key (known: {', '.join(sorted(known))})")


def _axis(path: Path, table: dict[str, Any], key: str, default: list[Any] | None = None) -> list[Any]:
    value = table.get(key, default)
    if value is None:
        raise UserError(f"{path}: matrix.{key}: missing")
    if not isinstance(value, list):
        raise UserError(f"{path}: matrix.{key}: must be a list, got {value!r}")
    if not value:
        raise UserError(f"{path}: matrix.{key}: empty axis")
    return value


def _positive(path: Path, key: str, value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        raise UserError(f"{path}: {key}: must be a positive {'number' if kind is float else 'whole number'}, "
                        f"got {value!r}")
    return kind(value)


def _shapes(path: Path, table: dict[str, Any]) -> list[tuple[int, int]]:
    if "shapes" in table:
        if {"n_workers", "threads_per_worker"} & table.keys():
            raise UserError(f"{path}: matrix.shapes: give shapes or n_workers × threads_per_worker, not both")
        shapes = []
        for shape in _axis(path, table, "shapes"):
            if not (isinstance(shape, list) and len(shape) == 2):
                raise UserError(f"{path}: matrix.shapes: each shape is [workers, threads], got {shape!r}")
            shapes.append(tuple(_positive(path, "matrix.shapes", v, int) for v in shape))
        return shapes
    workers = [_positive(path, "matrix.n_workers", v, int) for v in _axis(path, table, "n_workers")]
    threads = [_positive(path, "matrix.threads_per_worker", v, int) for v in _axis(path, table, "threads_per_worker")]
    return list(itertools.product(workers, threads))


def _memory_limits(path: Path, table: dict[str, Any]) -> list[int]:
    limits = []
    for text in _axis(path, table, "memory_limits"):
        try:
            value = parse_bytes(text) if isinstance(text, str) else int(text)
        except (ValueError, TypeError):
            raise UserError(f"{path}: matrix.memory_limits: {text!r} is not a size (try 4GiB)") from None
        if value < MIN_WORKER_MEMORY:
            raise UserError(f"{path}: matrix.memory_limits: {text!r} is too small for a worker to start "
                            f"(at least {compact_bytes(MIN_WORKER_MEMORY)})")
        limits.append(value)
    return limits


def _resolve(path: Path, table: dict[str, Any]) -> Matrix:
    workloads = []
    for name in _axis(path, table, "workloads"):
        try:
            workloads.append(resolve_workload(str(name)))
        except WorkloadError as error:
            raise UserError(f"{path}: matrix.workloads: {error}") from None
    shapes = _shapes(path, table)
    limits = _memory_limits(path, table)
    processes = _axis(path, table, "processes", [True])
    if not all(isinstance(p, bool) for p in processes):
        raise UserError(f"{path}: matrix.processes: must be a list of true/false, got {processes!r}")
    scale = _positive(path, "matrix.scale", table.get("scale", 1.0), float)
    repeats = _positive(path, "matrix.repeats", table.get("repeats", 1), int)
    timeout = _positive(path, "matrix.timeout_s", table.get("timeout_s", 600), float)
    profile = table.get("profile", True)
    if not isinstance(profile, bool):
        raise UserError(f"{path}: matrix.profile: must be true or false, got {profile!r}")
    cases = tuple(
        SweepCase(workload, ClusterConfig(workers, threads, limit, process), repeat)
        for workload in workloads
        for (workers, threads), limit, process in itertools.product(shapes, limits, processes)
        for repeat in range(repeats)
    )
    ids = [case.id for case in cases]
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: matrix: the same case appears twice (a repeated workload, shape or limit)")
    return Matrix(str(path), scale, repeats, timeout, profile, cases)
