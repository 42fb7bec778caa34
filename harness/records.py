"""Versioned run records (``run.json``) and the results directory they live in."""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpora.atomic import atomic_write_json
from harness.environment import collect_environment
from harness.errors import UserError

__all__ = [
    "RECORD_NAME",
    "SCHEMA_VERSION",
    "RunRecord",
    "load_record",
    "prepare_results_directory",
    "results_directory",
]

# Schema history:
#   1 — environment, cases[] (workload, corpus, config, wall time, outcome, answer check).
#   2 — summary{} (what is derived from all cases, e.g. a sweep's sizing model); cases may
#       carry cost_gib_s and, for out-of-memory, oom{}.
SCHEMA_VERSION = 2
RECORD_NAME = "run.json"
RESULTS_ENV = "MEMREPLAY_RESULTS"


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


@dataclass
class RunRecord:
    """One run directory's record. Saved atomically after every case, so a crash or Ctrl-C
    keeps every case already measured."""

    directory: Path
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)
    cases: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=collect_environment)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))

    @classmethod
    def create(cls, results: Path, label: str, kind: str, settings: dict[str, Any] | None = None) -> RunRecord:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        directory = results / "runs" / f"{stamp}-{label}-{secrets.token_hex(2)}"
        directory.mkdir(parents=True)
        record = cls(directory, kind, settings or {})
        record.save()
        return record

    @classmethod
    def reopen(cls, path: str | Path) -> RunRecord:
        """An existing run, to add the cases it is missing (``sweep --resume``)."""
        document = load_record(path)
        directory = Path(path) if Path(path).is_dir() else Path(path).parent
        return cls(directory, document["kind"], document["settings"], document["cases"], document.get("summary", {}),
                   document["environment"], document["created"])

    @property
    def path(self) -> Path:
        return self.directory / RECORD_NAME

    def case_directory(self, case_id: str) -> Path:
        directory = self.directory / "cases" / case_id
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    def add_case(self, case: dict[str, Any]) -> None:
        self.cases.append(case)
        self.save()

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "created": self.created,
            "environment": self.environment,
            "settings": self.settings,
            "cases": self.cases,
            "summary": self.summary,
        }

    def save(self) -> None:
        atomic_write_json(self.path, self.to_json())


def load_record(path: str | Path) -> dict[str, Any]:
    """Read a run record (a run.json or its directory); refuse other schema versions."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise UserError(f"cannot read run record {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise UserError(f"run record {path} is not valid JSON: {error.msg} at line {error.lineno}") from None
    version = document.get("schema_version") if isinstance(document, dict) else None
    if version != SCHEMA_VERSION:
        raise UserError(f"run record {path} has schema version {version!r}; this memreplay reads {SCHEMA_VERSION}")
    return document
