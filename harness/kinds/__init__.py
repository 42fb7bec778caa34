"""Every kind of result memreplay makes, one module each, found through one map.

A kind's module holds its commands (options and the one function each calls), its record type
(from :mod:`memreplay.records.schema`) and its record as report sections, which the terminal and
the page (``report.html``) both render. Adding a kind is its module, its record type and its
tests, and a line in :data:`KINDS`.
"""

from __future__ import annotations

from pathlib import Path

from dask.utils import format_bytes

from memreplay.kinds import probe, profile, scheduler, size, sweep
from memreplay.kinds.base import Command, Kind, ReportContext, kind_text
from memreplay.records.schema import Record
from memreplay.records.store import run_directory
from memreplay.report.html_page import write_page

__all__ = ["KINDS", "REPORT_NAME", "Kind", "kind_commands", "kind_of", "record_text", "write_report"]

REPORT_NAME = "report.html"

KINDS: dict[str, Kind] = {kind.tag: kind for kind in (sweep.KIND, profile.KIND, size.KIND, scheduler.KIND,
                                                       probe.KIND)}


def kind_of(record: Record) -> Kind:
    return KINDS[record.__struct_config__.tag]


def kind_commands() -> list[Command]:
    return [command for kind in KINDS.values() for command in kind.commands]


def record_text(run: str | Path, record: Record, context: ReportContext) -> str:
    """What the terminal shows of a record: its sections meant for the terminal."""
    return kind_text(kind_of(record), run_directory(run), record, context)


def write_report(run: str | Path, record: Record, context: ReportContext) -> Path:
    """Write ``RUN/report.html`` for ``record`` (read from ``RUN/run.json``): every section of
    its kind. Case files are found beside the record, so a moved run still reports."""
    run = run_directory(run)
    kind = kind_of(record)
    environment = record.environment
    return write_page(run / REPORT_NAME, f"memreplay {kind.title(record)} report: {run.name}",
                      f"{record.created} · {environment.hostname} · {environment.cpu_count} cores, "
                      f"{format_bytes(environment.ram_bytes)} · dask {environment.dask}, "
                      f"distributed {environment.distributed}", kind.sections(run, record, context))
