"""Machine catalogs: the cloud machine types a rollout plan (``memreplay plan``) may choose from,
how big each is and what it costs (``configs/machines/example.toml`` is one to copy).

A catalog is a TOML file of one optional ``[catalog]`` table and one ``[[machine]]`` entry per
machine type::

    [catalog]
    currency = "USD"            # optional, default USD
    prices_taken = 2026-11-30   # optional: a TOML date or an ISO date string ("2026-11-30")
    note = "..."                # optional

    [[machine]]
    name = "m7i.xlarge"         # unique in the catalog
    family = "general-purpose"  # optional
    cores = 4                   # a positive whole number
    memory = "16GiB"            # a size, or a whole number of bytes
    price_per_hour = 0.2016     # a finite number ≥ 0, in the catalog's currency
    disk_per_worker = "50GiB"   # optional: local disk a worker may spill to

Every value is checked here, in one line naming the file, the key and the machine (by name, or
as ``machine #N`` counting from 1 when it has no usable name): a plan computed from a typo'd
price or a memory of 16 bytes would look plausible and be wrong.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dask.utils import format_bytes

from memreplay.errors import UserError
from memreplay.plan.cluster_config import MIN_WORKER_MEMORY
from memreplay.plan.sizes import compact_bytes, parse_size
from memreplay.plan.toml_file import read_toml

__all__ = ["DEFAULT_CURRENCY", "MachineCatalog", "MachineType", "load_catalog"]

DEFAULT_CURRENCY = "USD"
_TABLES = ("catalog", "machine")
_CATALOG_KEYS = ("currency", "prices_taken", "note")
_REQUIRED = ("name", "cores", "memory", "price_per_hour")
# What one machine has at most: a typo of a few zeros is refused, not planned for minutes.
MAX_CORES = 10_000
MAX_MEMORY = 2**50  # 1 PiB
_MACHINE_KEYS = ("name", "family", "cores", "memory", "price_per_hour", "disk_per_worker")
# date.fromisoformat also takes 20261130 and 2026-W48-1: a catalog's date is read by people too
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class MachineType:
    name: str
    cores: int
    memory_bytes: int
    price_per_hour: float
    family: str | None = None  # e.g. "general-purpose", "memory-optimised", "compute-optimised"
    disk_per_worker_bytes: int | None = None  # local disk a worker may spill to; None: not limited/not given


@dataclass(frozen=True)
class MachineCatalog:
    path: Path
    machines: tuple[MachineType, ...]
    currency: str  # default "USD"
    prices_taken: str | None  # ISO date the prices were taken, e.g. "2026-11-30"
    note: str | None  # e.g. "example prices: replace with your provider's"


def _string(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{what}: must be a non-empty string, got {value!r}")
    return value


def _prices_taken(path: Path, value: Any) -> str:
    what = f"{path}: catalog.prices_taken"
    # a TOML offset or local date-time is a datetime, itself a date: the key is a day, not a moment
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str) and _ISO_DATE.fullmatch(value.strip()):
        try:
            return datetime.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise UserError(f"{what}: {value!r} is not a date of the calendar") from None
    raise UserError(f"{what}: must be a date such as 2026-11-30 (a TOML date or an ISO date string), got {value!r}")


def _catalog_table(path: Path, table: Any) -> tuple[str, str | None, str | None]:
    if not isinstance(table, dict):
        raise UserError(f"{path}: catalog: must be a table ([catalog]) of {', '.join(_CATALOG_KEYS)}")
    for key in table:
        if key not in _CATALOG_KEYS:
            raise UserError(f"{path}: catalog.{key}: unknown key (known: {', '.join(_CATALOG_KEYS)})")
    currency = _string(table.get("currency", DEFAULT_CURRENCY), f"{path}: catalog.currency")
    prices_taken = _prices_taken(path, table["prices_taken"]) if "prices_taken" in table else None
    note = table.get("note")
    if note is not None and not isinstance(note, str):
        raise UserError(f"{path}: catalog.note: must be a string, got {note!r}")
    return currency, prices_taken, note


def _size(value: Any, what: str) -> int:
    # floats refused: a byte count is whole, and 1.6e10 is more likely a slip than a size
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise UserError(f"{what}: must be a size such as \"16GiB\" or a whole number of bytes, got {value!r}")
    return parse_size(value, what)  # refuses 0, negative and unparseable sizes in its own words


def _machine(path: Path, index: int, entry: Any, seen: dict[str, int]) -> MachineType:
    if not isinstance(entry, dict):
        raise UserError(f"{path}: machine #{index}: must be a table ([[machine]]), got {entry!r}")
    name = entry.get("name")
    # the machine by its name when it has a usable one, else by its place in the file
    label = f"machine {name!r}" if isinstance(name, str) and name.strip() else f"machine #{index}"
    # unknown keys first: a typo (price) is then named as such, not as a missing price_per_hour
    for key in entry:
        if key not in _MACHINE_KEYS:
            raise UserError(f"{path}: {label} {key}: unknown key (known: {', '.join(_MACHINE_KEYS)})")
    for key in _REQUIRED:
        if key not in entry:
            raise UserError(f"{path}: {label}: missing {key} (required: {', '.join(_REQUIRED)})")
    name = _string(name, f"{path}: {label} name")
    if name in seen:
        raise UserError(f"{path}: {label} name: a second machine named {name!r} (machine #{seen[name]} is too); "
                        "names must be unique")
    seen[name] = index

    cores = entry["cores"]
    if isinstance(cores, bool) or not isinstance(cores, int) or cores < 1:
        raise UserError(f"{path}: {label} cores: must be a positive whole number, got {cores!r}")
    if cores > MAX_CORES:
        raise UserError(f"{path}: {label} cores: {cores:,} is more than any one machine has (at most {MAX_CORES:,})")

    memory = _size(entry["memory"], f"{path}: {label} memory")
    if memory < MIN_WORKER_MEMORY:
        bare = " (a bare number is bytes: write a size such as \"16GiB\")" if isinstance(entry["memory"], int) else ""
        raise UserError(f"{path}: {label} memory: {compact_bytes(memory)} is less than one worker needs to start "
                        f"({compact_bytes(MIN_WORKER_MEMORY)}){bare}")

    if memory > MAX_MEMORY:
        raise UserError(f"{path}: {label} memory: {format_bytes(memory)} is more than any one machine has "
                        f"(at most {format_bytes(MAX_MEMORY)})")

    price = entry["price_per_hour"]
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) or price < 0:
        raise UserError(f"{path}: {label} price_per_hour: must be a finite number ≥ 0, got {price!r}")

    family = _string(entry["family"], f"{path}: {label} family") if "family" in entry else None
    disk = _size(entry["disk_per_worker"], f"{path}: {label} disk_per_worker") if "disk_per_worker" in entry else None
    return MachineType(name, cores, memory, float(price), family, disk)


def load_catalog(path: str | Path) -> MachineCatalog:
    """A machine catalog, every value checked; any problem is a one-line UserError."""
    path = Path(path)
    document = read_toml(path, "machine catalog")
    for key, value in document.items():
        if key not in _TABLES:
            tables = isinstance(value, list) and bool(value) and all(isinstance(item, dict) for item in value)
            kind = "table" if isinstance(value, dict) or tables else "key"  # [[name]] is an array of tables
            raise UserError(f"{path}: {key}: unknown {kind} (known: {', '.join(_TABLES)})")
    currency, prices_taken, note = _catalog_table(path, document.get("catalog", {}))
    entries = document.get("machine", [])
    if isinstance(entries, dict):  # [machine] where [[machine]] was meant
        raise UserError(f"{path}: machine: must be [[machine]] entries (an array of tables), got one [machine] table")
    if not isinstance(entries, list):
        raise UserError(f"{path}: machine: must be [[machine]] entries (an array of tables), got {entries!r}")
    if not entries:
        raise UserError(f"{path}: machine: no [[machine]] entries (a catalog lists at least one machine type)")
    seen: dict[str, int] = {}
    machines = tuple(_machine(path, index, entry, seen) for index, entry in enumerate(entries, start=1))
    return MachineCatalog(path, machines, currency, prices_taken, note)
