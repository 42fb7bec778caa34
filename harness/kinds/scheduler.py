"""The kind ``scheduler`` (``memreplay scheduler``, ``nox -s bench-scheduler``): the scheduler's
own memory under the default preset, the trimmed one, and the default again (A/A)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dask.utils import format_bytes

from memreplay.kinds.base import (
    Command,
    Kind,
    ReportContext,
    Said,
    add_results_option,
    environment_section,
    record_said,
)
from memreplay.records.schema import FootprintComparison, SchedulerRecord
from memreplay.records.store import prepare_results_directory
from memreplay.report.blocks import Block, Items, Plots, Section, Table, Text
from memreplay.report.plots import structures_plot, timeline_plot
from memreplay.report.units import signed_bytes

__all__ = ["KIND", "structures_table"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="40,000 transitions and 2 s idle")
    parser.add_argument("--transitions", type=int, help="transitions to drive (default 200,000)")
    parser.add_argument("--idle", type=float, help="idle seconds before measuring (default 10)")
    parser.add_argument("--default", help="the default preset (memreplay's own configs/scheduler/default.toml)")
    parser.add_argument("--trimmed", help="the trimmed preset (memreplay's own configs/scheduler/trimmed.toml)")
    add_results_option(parser)


def _call(args: argparse.Namespace) -> Said:
    from memreplay.plan.packaged import packaged_config
    from memreplay.studies.scheduler import run_study

    default = args.default or packaged_config("scheduler/default.toml")
    trimmed = args.trimmed or packaged_config("scheduler/trimmed.toml")
    run = run_study(default, trimmed, prepare_results_directory(args.results), quick=args.quick,
                    transitions=args.transitions, idle_s=args.idle)
    return record_said(KIND, run, text_file="footprint.txt")


def structures_table(c: FootprintComparison) -> Table:
    def per_entry(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    return Table(("structure", "entries", "bytes", "B/entry", "trimmed", "trimmed bytes", "trimmed B/entry",
                  "published", "saving"),
                 [(r.structure, f"{r.default.entries:,}", format_bytes(r.default.bytes),
                   per_entry(r.default_bytes_per_entry), f"{r.trimmed.entries:,}", format_bytes(r.trimmed.bytes),
                   per_entry(r.trimmed_bytes_per_entry),
                   "-" if r.published_bytes_per_entry is None else str(r.published_bytes_per_entry),
                   signed_bytes(r.saving_bytes)) for r in c.rows],
                 caption=f"Scheduler log structures, distributed {c.distributed}: entries and deep bytes on the live "
                         "objects under the default preset, and under the trimmed one; published: the bytes per entry "
                         "a published estimate gives",
                 numeric=(1, 2, 3, 4, 5, 6, 7, 8))


def _sections(run: Path, record: SchedulerRecord, context: ReportContext) -> list[Section]:
    sections = []
    c = record.comparison
    if c is None:
        sections.append(Section("The answer", [Items(["No comparison: the study did not finish."])], style="answer"))
    else:
        sections.append(Section("The answer", [Items([
            f"Trimming {'saves' if c.rss_saving_bytes >= 0 else 'costs'} {format_bytes(abs(c.rss_saving_bytes))} of "
            f"scheduler RSS ({abs(c.rss_saving_percent)} %), against an A/A noise of "
            f"{format_bytes(c.rss_noise_bytes)}, on distributed {c.distributed}.",
            f"Scheduler RSS at the end: default {format_bytes(c.rss_default_bytes)}, trimmed "
            f"{format_bytes(c.rss_trimmed_bytes)}, default again (A/A) {format_bytes(c.rss_default_again_bytes)}.",
            f"The bounded structures themselves account for {signed_bytes(c.structures_saving_bytes)} of that"
            + ("." if c.reconciled_percent is None else f" ({c.reconciled_percent} %).")])], style="answer"))
        blocks: list[Block] = [structures_table(c)]
        blocks.append(Plots([structures_plot("Deep size of each bounded structure", [r.structure for r in c.rows],
                                             [r.default.bytes for r in c.rows], [r.trimmed.bytes for r in c.rows])]))
        sections.append(Section("Scheduler structures, default versus trimmed", blocks))
    if record.scenarios:
        series = {s.label: ([t for t, _ in s.rss_timeline], [rss for _, rss in s.rss_timeline])
                  for s in record.scenarios}
        sections.append(Section("Scheduler RSS over time", [
            Text(f"{record.settings.transitions:,} transitions, then {record.settings.idle_s:g} s idle, per preset.",
                 note=True), Plots([timeline_plot("Scheduler RSS per preset", series)])], terminal=False))
    sections.append(environment_section(record.environment, [("transitions", record.settings.transitions),
                                                             ("idle s", record.settings.idle_s)]))
    return sections


KIND = Kind(
    tag="scheduler", record_type=SchedulerRecord, sections=_sections,
    commands=(Command("scheduler", "How much memory does the scheduler hold?",
                      "the scheduler's memory under the default and the trimmed preset (and the default again)",
                      _configure, _call),),
)
