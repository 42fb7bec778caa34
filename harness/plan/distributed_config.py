"""Distributed's configuration as memreplay plans with it: scheduler presets
(``configs/scheduler/*.toml``, named sets of the scheduler's log-sizing settings, checked
against the installed distributed) and the nanny's kill line.

A preset has two tables:
- ``[recipe]``: settings named as a published recipe names them; a key the installed
  distributed renamed is mapped onto its current name (and back, on an old version), and the
  mapping is recorded;
- ``[config]``: exact keys of the installed distributed; an unknown one is refused, naming its
  replacement where one exists.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import distributed  # noqa: F401  (registers distributed's defaults in dask.config)

from memreplay.compat import distributed_version
from memreplay.errors import UserError
from memreplay.plan.toml_file import read_toml

__all__ = ["DEFAULT_PRESET", "RENAMES", "SchedulerPreset", "installed_keys", "kill_fraction", "load_preset",
           "log_settings", "to_environment", "child_environment"]

# distributed 2023.9.3 folded these into one key.
RENAMES: dict[str, str] = {
    "distributed.scheduler.transition-log-length": "distributed.admin.low-level-log-length",
    "distributed.scheduler.events-log-length": "distributed.admin.low-level-log-length",
}

# The keys that size the scheduler's log structures, in either generation of distributed.
LOG_KEYS = (
    "distributed.admin.low-level-log-length",
    "distributed.scheduler.transition-log-length",
    "distributed.scheduler.events-log-length",
    "distributed.admin.log-length",
    "distributed.admin.max-error-length",
    "distributed.admin.system-monitor.log-length",
    "distributed.diagnostics.computations.max-history",
    "distributed.diagnostics.erred-tasks.max-history",
    "distributed.scheduler.dashboard.status.task-stream-length",
    "distributed.scheduler.dashboard.tasks.task-stream-length",
)


def _flatten(tree: dict[str, Any], prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        flat[name] = value
    return flat


def kill_fraction() -> float:
    """``distributed.worker.memory.terminate`` from dask's config: the share of its memory limit
    at which a nanny kills its worker (1.0 where killing is switched off)."""
    value = dask.config.get("distributed.worker.memory.terminate")
    return float(value) if value else 1.0


def installed_keys() -> dict[str, Any]:
    """Every ``distributed.*`` key the installed distributed knows, with its current value."""
    return _flatten(dask.config.get("distributed"), "distributed")


def log_settings(keys: dict[str, Any] | None = None) -> dict[str, Any]:
    """The current values of the log-sizing keys that exist in this distributed (or in ``keys``).
    Read through dask.config.get, which treats ``_`` and ``-`` alike as environment variables need."""
    if keys is not None:
        return {key: keys[key] for key in LOG_KEYS if key in keys}
    settings = {}
    for key in LOG_KEYS:
        try:
            settings[key] = dask.config.get(key)
        except KeyError:
            continue
    return settings


@dataclass(frozen=True)
class SchedulerPreset:
    name: str
    source: str
    settings: dict[str, Any]  # installed key → value
    mapped: list[dict[str, str]] = field(default_factory=list)  # recipe key → installed key

    def describe(self, keys: dict[str, Any] | None = None) -> dict[str, Any]:
        resolved = {**log_settings(keys), **self.settings}
        return {"name": self.name, "source": self.source, "distributed": distributed_version(),
                "overrides": self.settings, "mapped": self.mapped, "resolved": resolved}


# The scheduler as installed: what a case runs under unless its matrix names scheduler profiles.
DEFAULT_PRESET = SchedulerPreset("default", "the installed distributed's own settings", {})


def _replacement(key: str, keys: dict[str, Any]) -> str | None:
    """The key that stands for ``key`` in the installed distributed, if it was renamed."""
    if key in RENAMES and RENAMES[key] in keys:
        return RENAMES[key]
    old = [old for old, new in RENAMES.items() if new == key and old in keys]
    return old[0] if len(old) == 1 else ("+".join(old) if old else None)


def load_preset(path: str | Path, keys: dict[str, Any] | None = None) -> SchedulerPreset:
    path = Path(path)
    keys = installed_keys() if keys is None else keys
    document = read_toml(path, "scheduler preset")
    for table in document:
        if table not in ("recipe", "config"):
            raise UserError(f"{path}: {table}: unknown table (known: config, recipe)")
        if not isinstance(document[table], dict):
            raise UserError(f"{path}: {table}: must be a table of settings")
    settings: dict[str, Any] = {}
    mapped: list[dict[str, str]] = []
    for key, value in document.get("config", {}).items():
        if key not in keys:
            replacement = _replacement(key, keys)
            hint = f"; distributed {distributed_version()} calls it {replacement}" if replacement else ""
            raise UserError(f"{path}: config.{key}: unknown key{hint}")
        settings[key] = _of_installed_type(path, f"config.{key}", value, keys[key])
    for key, value in document.get("recipe", {}).items():
        target = key if key in keys else _replacement(key, keys)
        if target is None:
            raise UserError(f"{path}: recipe.{key}: no such key in distributed {distributed_version()}, "
                            "and no known replacement")
        for installed in target.split("+"):
            value = _of_installed_type(path, f"recipe.{key}", value, keys[installed])
            # two recipe keys folded into one: keep the larger, so neither log is cut below its recipe
            settings[installed] = max(value, settings.get(installed, value))
            if installed != key:
                mapped.append({"recipe": key, "installed": installed})
    return SchedulerPreset(path.stem, str(path), settings, mapped)


def _of_installed_type(path: Path, where: str, value: Any, default: Any) -> Any:
    """A value of the kind the installed default is (a scheduler given a string where it counts
    entries would die at start): refused here, in one line, before any process starts."""
    kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}
    expected = kinds.get(type(default))
    if expected is None or (isinstance(value, expected) and (isinstance(value, bool) == isinstance(default, bool))):
        return value
    name = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}[type(default)]
    raise UserError(f"{path}: {where}: must be {name} (the installed default is {default!r}), got {value!r}")


def to_environment(settings: dict[str, Any]) -> dict[str, str]:
    """Dask reads ``DASK_A__B_C`` as ``a.b-c``: pass settings to a scheduler process this way."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value) for key, value in settings.items()}


def child_environment(settings: dict[str, Any] | None = None) -> dict[str, str]:
    """The environment of a child process (a scheduler, a profiled task): this one's, with the
    current directory importable as ``python -m`` makes it (a user's ``my_pipeline.py``), and
    ``settings`` as dask reads them."""
    path = os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **to_environment(settings or {})}
