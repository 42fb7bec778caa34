"""What every kind of result has: the commands that make it (each with its own options beside
the one function it calls), and the sections its record reads as, which the terminal and the
HTML page both render. The options several commands share are declared here once."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memreplay.corpora.staged import CORPORA_ENV
from memreplay.records.schema import Environment, Record
from memreplay.report.blocks import Section, Table

__all__ = [
    "Command", "Kind", "ReportContext", "Said", "add_cluster_options", "add_corpus_options", "add_results_option",
    "corpus_cache", "environment_section", "kind_text", "plural", "record_said", "terminal_context",
]


@dataclass(frozen=True)
class Said:
    """What a command prints (to stdout, or to stderr when it failed) and its exit code; ``run``
    names a run directory whose record the command wrote, so a report is written for it."""

    text: str
    code: int = 0
    to_stderr: bool = False
    run: Path | None = None
    record: Record | None = None


@dataclass(frozen=True)
class Command:
    """One ``memreplay`` command: its name, the question it answers (its group in ``--help``),
    its options and the one function it calls."""

    name: str
    question: str
    summary: str
    configure: Callable[[argparse.ArgumentParser], None]
    call: Callable[[argparse.Namespace], Said]
    aliases: tuple[str, ...] = ()
    description: str | None = None
    starts_processes: bool = True  # it starts clusters or children (the working directory is importable)


@dataclass(frozen=True)
class ReportContext:
    """What a report is written for: the machine to advise for (cores, bytes; None: the machine
    the run was measured on) and the fraction of its limit at which a nanny kills a worker."""

    kill_fraction: float
    machine: tuple[int, int] | None = None
    width: int = 120  # terminal columns


@dataclass(frozen=True)
class Kind:
    """A kind of result: its record's tag and type, its commands, and its record as sections.

    ``sections(run, record, context)`` builds every section of the report; the page shows them
    all, the terminal the ones marked ``terminal``. ``title`` names the page."""

    tag: str
    record_type: type[Any]
    commands: tuple[Command, ...]
    sections: Callable[[Path, Any, ReportContext], list[Section]]
    title: Callable[[Any], str] = field(default=lambda record: record.__struct_config__.tag)


def terminal_context() -> ReportContext:
    """What a command's terminal text is written for: this machine, dask's kill line, the
    terminal's width."""
    from memreplay.plan.distributed_config import kill_fraction
    from memreplay.report.table import terminal_width

    return ReportContext(kill_fraction=kill_fraction(), width=terminal_width())


def kind_text(kind: Kind, run: Path, record: Any, context: ReportContext) -> str:
    """What the terminal shows of a record: its kind's sections meant for the terminal."""
    from memreplay.report.text import sections_text

    return sections_text(kind.sections(run, record, context), context.width)


def record_said(kind: Kind, run: Any, code: int = 0, text_file: str | None = None) -> Said:
    """What a command that wrote ``run`` (a RunDirectory) prints: the record's terminal sections,
    where it is; the report is written by the caller. ``text_file``: the same text is also kept
    in the run directory under that name."""
    text = kind_text(kind, run.directory, run.record, terminal_context())
    if text_file is not None:
        from memreplay.records.atomic import atomic_write_text

        atomic_write_text(run.directory / text_file, text + "\n")
    return Said(f"{text}\n\nresults: {run.path}", code, run=run.directory, record=run.record)


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def environment_section(environment: Environment, settings: Sequence[tuple[str, object]]) -> Section:
    from dask.utils import format_bytes

    fields = [(name, getattr(environment, name)) for name in Environment.__struct_fields__ if name != "memory"]
    shown = [(name, format_bytes(value) if name == "ram_bytes" else value) for name, value in fields]
    memory = environment.memory
    if memory is not None:  # what changes memory figures without changing the code (schema 7)
        def listed(values: dict[str, object]) -> str:
            return ", ".join(f"{key} {'unset' if value is None else value}" for key, value in values.items()) or "none"

        shown += [
            ("transparent huge pages", memory.transparent_hugepages or "not reported"),
            ("malloc environment", listed(memory.malloc)),
            ("a nanny sets in its worker", listed(memory.nanny_environ)),
            ("cgroup memory limit", "none" if memory.cgroup_memory_limit_bytes is None
             else format_bytes(memory.cgroup_memory_limit_bytes)),
            ("swap", format_bytes(memory.swap_bytes)),
            ("distributed.worker.memory", listed({key: value for key, value in memory.worker_memory.items()
                                                  if not isinstance(value, dict)})),
        ]
    return Section("Environment and settings", [Table(("", ""), [*settings, *shown])], terminal=False)


# --- options several commands share ---------------------------------------------------------------

RESULTS_HELP = "results directory (default $MEMREPLAY_RESULTS or ./results)"
CORPORA_HELP = "corpus cache (default $MEMREPLAY_CORPORA or RESULTS/corpora)"


def add_results_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", help=RESULTS_HELP)


def add_corpus_options(parser: argparse.ArgumentParser, scale: bool = True) -> None:
    if scale:
        parser.add_argument("--scale", type=float, default=1.0,
                            help="corpus scale (1.0: a 25 MB text file, 16-64 MB volumes)")
    add_results_option(parser)
    parser.add_argument("--corpora", help=CORPORA_HELP)


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="use the running cluster at this scheduler address, as it is (e.g. tcp://10.0.0.5:8786)")
    parser.add_argument("--tls-ca-file", metavar="FILE", help="CA certificate of a TLS scheduler (as dask's CLI)")
    parser.add_argument("--tls-cert", metavar="FILE", help="client certificate for a TLS scheduler")
    parser.add_argument("--tls-key", metavar="FILE", help="client private key for a TLS scheduler")


def corpus_cache(results: Path, given: str | None) -> Path:
    return Path(given or os.environ.get(CORPORA_ENV) or results / "corpora")
