"""Memory presets: named settings of Dask's memory manager on the workers
(``configs/memory/NAME.toml``), a matrix axis like scheduler presets.

A preset has one table, ``[memory]``, of ``distributed.worker.memory.*`` keys by their short
names: ``target``, ``spill``, ``pause`` and ``terminate`` (a fraction of the worker's memory
limit, above 0 and at most 1, or ``false`` for off), ``spill-compression`` (``auto``, ``false``
or a codec that is installed) and ``max-spill`` (bytes on disk, a size such as ``"10GiB"``, or
``false``). Every value is checked here, before any worker starts: a worker given a string
where it expects a fraction dies at start with a traceback of its own.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import distributed  # noqa: F401  (registers distributed's defaults in dask.config)

from memreplay.errors import UserError
from memreplay.plan.packaged import preset_file
from memreplay.plan.sizes import parse_size
from memreplay.plan.toml_file import read_toml

__all__ = ["DEFAULT_THRESHOLDS", "FRACTIONS", "PREFIX", "MemoryThresholds", "installed_thresholds",
           "load_thresholds", "memory_thresholds"]

PREFIX = "distributed.worker.memory."
FRACTIONS = ("target", "spill", "pause", "terminate")
# the codecs distributed can spill with, and the module each needs (None: always there)
_CODECS = {"zlib": None, "lz4": "lz4", "snappy": "snappy", "zstd": "zstandard"}
_KEYS = (*FRACTIONS, "spill-compression", "max-spill")


def installed_thresholds() -> dict[str, Any]:
    """The memory manager's settings as dask's configuration gives them here (short names)."""
    return {key: dask.config.get(PREFIX + key) for key in _KEYS}


@dataclass(frozen=True)
class MemoryThresholds:
    name: str
    source: str
    settings: dict[str, Any]  # short name → value, only the keys the preset sets

    @property
    def config(self) -> dict[str, Any]:
        """The preset as dask config keys, to set on the workers."""
        return {PREFIX + key: value for key, value in self.settings.items()}


# The memory manager as installed: what a case runs under unless its matrix names memory presets.
DEFAULT_THRESHOLDS = MemoryThresholds("default", "the installed distributed's own settings", {})


def _fraction(path: Path, key: str, value: Any) -> float | bool:
    if value is False:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 < value <= 1:
        raise UserError(f"{path}: memory.{key}: must be a fraction of the memory limit above 0 and at most 1, "
                        f"or false (off), got {value!r}")
    return float(value)


def _check(path: Path, key: str, value: Any) -> Any:
    if key in FRACTIONS:
        return _fraction(path, key, value)
    if key == "spill-compression":
        if value is False or value == "auto":
            return value
        if not isinstance(value, str) or value not in _CODECS:
            raise UserError(f"{path}: memory.spill-compression: must be \"auto\", false or one of "
                            f"{', '.join(_CODECS)}, got {value!r}")
        module = _CODECS[value]
        if module is not None and importlib.util.find_spec(module) is None:
            raise UserError(f"{path}: memory.spill-compression: {value!r} needs the Python package {module!r}, "
                            "which is not installed; use \"zlib\"")
        return value
    # max-spill
    if value is False:
        return False
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UserError(f"{path}: memory.max-spill: must be a size such as \"10GiB\" or false, got {value!r}")
    size = parse_size(value, f"{path}: memory.max-spill") if isinstance(value, str) else value
    if size <= 0:
        raise UserError(f"{path}: memory.max-spill: must be more than 0 bytes, or false, got {value!r}")
    return size


def load_thresholds(path: str | Path) -> MemoryThresholds:
    path = Path(path)
    document = read_toml(path, "memory preset")
    for table in document:
        if table != "memory":
            raise UserError(f"{path}: {table}: unknown table (known: memory)")
    table = document.get("memory", {})
    if not isinstance(table, dict):
        raise UserError(f"{path}: memory: must be a table of settings")
    settings = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise UserError(f"{path}: memory.{key}: unknown key (known: {', '.join(_KEYS)})")
        settings[key] = _check(path, key, value)
    resolved = {**installed_thresholds(), **settings}
    pause, terminate = resolved["pause"], resolved["terminate"]
    if pause and terminate and pause >= terminate:
        raise UserError(f"{path}: memory.pause: {pause} is not below terminate ({terminate}): the nanny would kill "
                        "the worker before it paused")
    return MemoryThresholds(path.stem, str(path), settings)


def memory_thresholds(name: object, beside: Path, what: str) -> MemoryThresholds:
    """A memory preset by name: ``<beside>/memory/NAME.toml``, else memreplay's own
    ``configs/memory/NAME.toml``, or a ``.toml`` path relative to ``beside``. ``default``
    with no such file is the memory manager as installed. ``what`` names the key or option."""
    found = preset_file(name, beside, "memory", what)
    try:
        return DEFAULT_THRESHOLDS if found is None else load_thresholds(found)
    except UserError as error:  # the preset's own line (naming its file), after the key that named it
        raise UserError(f"{what}: {error}") from None

