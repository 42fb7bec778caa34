"""The results directory, run directories, and the one reader and writer of ``run.json``."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec
from filelock import FileLock, Timeout

from memreplay.errors import UserError
from memreplay.records.atomic import atomic_write_bytes
from memreplay.records.environment import collect_environment
from memreplay.records.schema import READABLE_SCHEMA_VERSIONS, SCHEMA_VERSION, Environment, Record

__all__ = [
    "RECORD_NAME", "RunDirectory", "load_record", "run_directory", "new_record_fields", "prepare_results_directory",
    "results_directory", "upgrade_before_6",
]

RECORD_NAME = "run.json"
RESULTS_ENV = "MEMREPLAY_RESULTS"

R = TypeVar("R", bound=Record)


def results_directory(path: str | Path | None = None) -> Path:
    """``path``, else $MEMREPLAY_RESULTS, else ``./results``."""
    return Path(path or os.environ.get(RESULTS_ENV) or "results")


def prepare_results_directory(path: str | Path | None = None) -> Path:
    """Create the results directory and prove it is writable before any cluster starts."""
    root = results_directory(path)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UserError(f"results directory {root} is not writable: {error.strerror or error}") from None
    return root


def run_directory(path: str | Path) -> Path:
    """A run given as its directory or as its ``run.json``: the directory."""
    path = Path(path)
    return path.parent if path.name == RECORD_NAME and not path.is_dir() else path


def new_record_fields() -> dict[str, str | Environment]:
    """The fields every new record starts with: when, and on what."""
    return {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "environment": collect_environment()}


class RunDirectory(Generic[R]):
    """One run's directory and its record, saved atomically after every change, so a crash or
    Ctrl-C keeps everything already measured."""

    def __init__(self, directory: Path, record: R) -> None:
        self.directory = directory
        self.record = record

    @classmethod
    def create(cls, results: Path, label: str, record: R) -> RunDirectory[R]:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        directory = results / "runs" / f"{stamp}-{label}-{secrets.token_hex(2)}"
        directory.mkdir(parents=True)
        run = cls(directory, record)
        run.save()
        return run

    @classmethod
    def reopen(cls, path: str | Path, kind: type[R]) -> RunDirectory[R]:
        """An existing run, to add what it is missing (``sweep --resume``)."""
        return cls(run_directory(path), load_record(path, kind))

    @property
    def path(self) -> Path:
        return self.directory / RECORD_NAME

    def case_directory(self, name: str) -> Path:
        directory = self.directory / "cases" / name
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held while a run is being written: a second process that tries to write the same run
        (two ``--resume`` at once) is refused in one line instead of mixing its cases in."""
        lock = FileLock(self.directory / ".lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise UserError(f"run {self.directory} is being written by another memreplay process; "
                            "wait for it to finish") from None
        try:
            yield
        finally:
            lock.release()

    def save(self) -> None:
        atomic_write_bytes(self.path, msgspec.json.format(msgspec.json.encode(self.record), indent=2) + b"\n")


RENAMED_KINDS_BEFORE_6 = {"probe-accuracy": "probe"}


def upgrade_before_6(record: dict[str, Any]) -> dict[str, Any]:
    """A record of schema 3, 4 or 5 with schema 6's names (see the schema history): the kind
    ``probe-accuracy`` is ``probe``; a case's ``config.scheduler_profile`` is
    ``config.scheduler_preset`` and its ``scheduler.profile`` is ``scheduler.preset``. The
    record keeps the schema version it was written with."""
    record["kind"] = RENAMED_KINDS_BEFORE_6.get(record.get("kind"), record.get("kind"))  # type: ignore[arg-type]

    def rename(table: object, old: str, new: str) -> None:
        if isinstance(table, dict) and old in table:
            table[new] = table.pop(old)

    settings = record.get("settings")
    planned = settings.get("matrix", {}).get("cases", []) if isinstance(settings, dict) else []
    for case in [*record.get("cases", []), *planned]:
        if isinstance(case, dict):
            rename(case.get("config"), "scheduler_profile", "scheduler_preset")
            rename(case.get("scheduler"), "profile", "preset")
    return record


class _Header(msgspec.Struct):
    schema_version: object = None
    kind: object = None


def load_record(path: str | Path, kind: type[R] | None = None) -> R:
    """Read a run record (a ``run.json`` or its directory). Another schema version, a record
    that does not match the schema, or (with ``kind``) a record of another kind is refused in
    one line naming the file."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{path} is a directory, not a run record") from None
    except OSError as error:
        raise UserError(f"cannot read run record {path}: {error.strerror or error}") from None
    try:
        header = msgspec.json.decode(data, type=_Header)
    except msgspec.ValidationError:
        raise UserError(f"{path}: not a run record (not a JSON object)") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError) as error:
        raise UserError(f"{path}: not a run record (not valid JSON: {str(error).splitlines()[0][:200]})") from None
    if header.schema_version not in READABLE_SCHEMA_VERSIONS:
        readable = " and ".join(map(str, READABLE_SCHEMA_VERSIONS))
        raise UserError(f"run record {path} has schema version {header.schema_version!r}; this memreplay reads "
                        f"{readable} (see docs/reference/run-json.md)")
    try:
        if header.schema_version == SCHEMA_VERSION:
            record = msgspec.json.decode(data, type=Record)
        else:  # an older record: its renamed fields and kind mapped to today's names first
            record = msgspec.convert(upgrade_before_6(msgspec.json.decode(data)), Record)
    except msgspec.ValidationError as error:
        raise UserError(f"run record {path} does not match schema {SCHEMA_VERSION}: {error}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError) as error:
        raise UserError(f"{path}: not a run record (not valid JSON: {str(error).splitlines()[0][:200]})") from None
    if kind is not None and not isinstance(record, kind):
        wanted = kind.__struct_config__.tag
        raise UserError(f"run record {path} is a {record.__struct_config__.tag} record, not a {wanted} record")
    return record  # type: ignore[return-value]


def newest_scheduler_ladder(beside: str | Path) -> Path | None:
    """The newest run directory beside ``beside`` (a run directory or its run.json) whose record is
    a finished scheduler ladder (``memreplay scheduler --ladder``, its graphs run on workers);
    None if there is none. Run directories are named by their start time, so the newest sorts
    last; a ladder stopped before it ran its graphs is passed over."""
    run = Path(beside)
    if run.name == RECORD_NAME:
        run = run.parent
    for candidate in sorted(run.resolve().parent.glob(f"*-scheduler*/{RECORD_NAME}"), reverse=True):
        try:
            record = load_record(candidate)
        except UserError:
            continue
        ladder = getattr(record, "ladder", None)
        if ladder is not None and ladder.models and any(check.role == "check" for check in ladder.executed):
            return candidate.parent
    return None
