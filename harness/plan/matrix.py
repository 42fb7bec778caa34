"""Configuration matrices (TOML): workloads × shapes × memory limits × processes, resolved into
the list of cases a sweep runs. Every problem is reported before any cluster starts, as one
line naming the file, the key and the problem."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from memreplay.errors import UserError
from memreplay.plan.cluster_config import MIN_WORKER_MEMORY, ClusterConfig, check_memory_limit
from memreplay.plan.cluster_source import OWN, ClusterSource, check_configs, resolve_manager
from memreplay.plan.distributed_config import DEFAULT_PRESET, SchedulerPreset, load_preset
from memreplay.plan.memory_thresholds import DEFAULT_THRESHOLDS, MemoryThresholds, memory_thresholds
from memreplay.plan.packaged import preset_file
from memreplay.plan.sizes import check_repeats, check_scale, check_seconds, parse_size
from memreplay.plan.toml_file import read_toml
from memreplay.workloads import Workload, WorkloadError, resolve_workload

__all__ = ["Case", "Matrix", "load_matrix", "scheduler_preset", "single_case"]

_Preset = TypeVar("_Preset", SchedulerPreset, MemoryThresholds)

_AXES = {"workloads", "n_workers", "threads_per_worker", "shapes", "memory_limits", "processes", "scheduler_presets",
         "memory_thresholds"}
_SETTINGS = {"scale", "repeats", "timeout_s", "fil_profiles", "size_ladder", "ladder_repeats", "cluster"}
# earlier names, still read: schema 2's "profile"; "scheduler_profiles" before 0.2.0
_RENAMED = {"profile": "fil_profiles", "scheduler_profiles": "scheduler_presets"}
_SECTIONS = {"matrix", "quick", "cluster"}


@dataclass(frozen=True)
class Case:
    """One workload on one cluster configuration, one repeat: the unit a sweep runs."""

    workload: Workload
    config: ClusterConfig
    repeat: int = 0
    scheduler: SchedulerPreset = DEFAULT_PRESET  # its name is config.scheduler_preset
    memory: MemoryThresholds = DEFAULT_THRESHOLDS  # its name is config.memory_thresholds

    @property
    def id(self) -> str:
        return f"{self.workload.slug}-{self.config.label}-r{self.repeat}"


@dataclass(frozen=True)
class Matrix:
    source: str
    scale: float
    repeats: int
    timeout_s: float | None
    fil_profiles: bool  # Fil-profile each workload's hungriest task after the cases
    cases: tuple[Case, ...]
    size_ladder: bool = False  # after the cases, each workload's size ladder (peak increase vs input size)
    ladder_repeats: int = 3  # measurements of each input size of a ladder
    cluster: ClusterSource = OWN  # where each case's cluster comes from


def single_case(workload: Workload, config: ClusterConfig, scale: float, timeout_s: float | None,
                scheduler_preset_name: str = "default", source: ClusterSource = OWN,
                memory_thresholds_name: str = "default") -> Matrix:
    """What ``memreplay run`` runs: a matrix of one case, without profiles or a size ladder."""
    preset = scheduler_preset(scheduler_preset_name, Path("."), "--scheduler-preset")
    memory = memory_thresholds(memory_thresholds_name, Path("."), "--memory-thresholds")
    config = msgspec.structs.replace(config, scheduler_preset=preset.name, memory_thresholds=memory.name)
    check_configs(source, [config], "--scheduler-preset" if preset.name != "default" else "--memory-thresholds")
    return Matrix("memreplay run", check_scale(scale, "--scale"), 1, check_seconds(timeout_s, "--timeout"), False,
                  (Case(workload, config, 0, preset, memory),), cluster=source)


def load_matrix(path: str | Path, quick: bool = False, running: ClusterSource | None = None) -> Matrix:
    """Read and validate a matrix; with ``quick``, the ``[quick]`` table overrides ``[matrix]``.
    ``running``: the running cluster given on the command line, which replaces the matrix's own."""
    path = Path(path)
    document = read_toml(path, "matrix")
    _refuse_unknown(path, "", document, _SECTIONS)
    if "matrix" not in document:
        raise UserError(f"{path}: missing [matrix] table")
    for section in _SECTIONS & document.keys():
        if not isinstance(document[section], dict):
            raise UserError(f"{path}: {section}: must be a table")
        if section != "cluster":  # [cluster] holds the manager's own keyword arguments
            _refuse_unknown(path, f"{section}.", document[section], _AXES | _SETTINGS | _RENAMED.keys())
    table = {**document["matrix"], **(document.get("quick", {}) if quick else {})}
    for old, new in _RENAMED.items():
        if old in table:
            if new in table:
                raise UserError(f"{path}: matrix.{old}: renamed {new}; give only {new}")
            table[new] = table.pop(old)
    return _resolve(path, table, _cluster_source(path, table, document.get("cluster"), running))


def _cluster_source(path: Path, table: dict[str, Any], options: dict[str, Any] | None,
                    running: ClusterSource | None) -> ClusterSource:
    if running is not None:
        if "cluster" in table or options is not None:
            raise UserError(f"{path}: matrix.cluster: the matrix names a cluster manager and --scheduler names a "
                            "running cluster; give one")
        return running
    if "cluster" not in table:
        if options is not None:
            raise UserError(f"{path}: [cluster]: arguments for a cluster manager, but matrix.cluster names none")
        return OWN
    resolve_manager(table["cluster"], f"{path}: matrix.cluster")
    return ClusterSource(kind="manager", manager=table["cluster"], options=options or {})


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
    if (isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int)
            or not math.isfinite(value) or value <= 0):
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


def _memory_limits(path: Path, table: dict[str, Any], local: bool) -> list[int]:
    """Per-worker limits; on memreplay's own cluster they must fit this machine, elsewhere the
    cluster's machines decide."""
    what = f"{path}: matrix.memory_limits"
    limits = [parse_size(text, what) for text in _axis(path, table, "memory_limits")]
    for limit in limits:
        if local:
            check_memory_limit(limit, what)
        elif limit < MIN_WORKER_MEMORY:
            raise UserError(f"{what}: {limit} bytes is too small for a worker to start")
    return limits


def _resolve(path: Path, table: dict[str, Any], source: ClusterSource) -> Matrix:
    workloads = []
    for name in _axis(path, table, "workloads"):
        try:
            workloads.append(resolve_workload(str(name)))
        except WorkloadError as error:
            raise UserError(f"{path}: matrix.workloads: {error}") from None
    shapes = _shapes(path, table)
    limits = _memory_limits(path, table, local=source.kind == "own")
    presets = _scheduler_presets(path, table)
    memories = _presets(path, table, "memory_thresholds", memory_thresholds)
    processes = _axis(path, table, "processes", [True])
    if not all(isinstance(p, bool) for p in processes):
        raise UserError(f"{path}: matrix.processes: must be a list of true/false, got {processes!r}")
    scale = _positive(path, "matrix.scale", table.get("scale", 1.0), float)
    repeats = check_repeats(table.get("repeats", 1), f"{path}: matrix.repeats")
    timeout = _positive(path, "matrix.timeout_s", table.get("timeout_s", 600), float)
    fil_profiles, size_ladder = (_flag(path, table, key) for key in ("fil_profiles", "size_ladder"))
    cases = tuple(
        Case(workload, ClusterConfig(workers, threads, limit, process, preset.name, memory.name), repeat, preset,
             memory)
        for workload in workloads
        for (workers, threads), limit, process, preset, memory in itertools.product(
            shapes, limits, processes, presets, memories)
        for repeat in range(repeats)
    )
    ids = [case.id for case in cases]
    if len(set(ids)) != len(ids):
        raise UserError(f"{path}: matrix: the same case appears twice (a repeated workload, shape or limit)")
    ladder_repeats = check_repeats(table.get("ladder_repeats", 3), f"{path}: matrix.ladder_repeats")
    check_configs(source, dict.fromkeys(case.config for case in cases), f"{path}: matrix")
    return Matrix(str(path), scale, repeats, timeout, fil_profiles, cases, size_ladder, ladder_repeats, source)


def scheduler_preset(name: object, beside: Path, what: str) -> SchedulerPreset:
    """A scheduler preset by name (:func:`memreplay.plan.packaged.preset_file`): ``default`` with
    no such file is the scheduler as installed. ``what`` names the key or option in errors."""
    found = preset_file(name, beside, "scheduler", what)
    try:
        return DEFAULT_PRESET if found is None else load_preset(found)
    except UserError as error:  # the preset's own line (naming its file), after the key that named it
        raise UserError(f"{what}: {error}") from None


def _scheduler_presets(path: Path, table: dict[str, Any]) -> list[SchedulerPreset]:
    return _presets(path, table, "scheduler_presets", scheduler_preset)


def _presets(path: Path, table: dict[str, Any], key: str,
             find: Callable[[object, Path, str], _Preset]) -> list[_Preset]:
    """An axis of presets (scheduler or memory), each found once by ``find``."""
    presets: list[_Preset] = []
    for name in _axis(path, table, key, ["default"]):
        preset = find(name, path.parent, f"{path}: matrix.{key}")
        if preset.name in [p.name for p in presets]:
            raise UserError(f"{path}: matrix.{key}: {preset.name!r} appears twice")
        presets.append(preset)
    return presets


def _flag(path: Path, table: dict[str, Any], key: str) -> bool:
    value = table.get(key, True)
    if not isinstance(value, bool):
        raise UserError(f"{path}: matrix.{key}: must be true or false, got {value!r}")
    return value
