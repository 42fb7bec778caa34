"""The kind ``profile`` (``memreplay profile``, and a sweep's ``fil_profiles``): each workload's
task function alone on its largest input, under Fil (tracked allocations at the peak) and
memory_profiler (RSS line by line): which lines hold the memory."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from dask.utils import format_bytes

from memreplay.kinds.base import (
    Command,
    Kind,
    ReportContext,
    Said,
    add_corpus_options,
    corpus_cache,
    environment_section,
    record_said,
)
from memreplay.records.schema import ProfileRecord, TaskProfile
from memreplay.records.store import prepare_results_directory
from memreplay.report.blocks import Block, Heading, Picture, Section, Table, Text
from memreplay.report.locate import beside

__all__ = ["HOLDING_PERCENT", "KIND", "RSS_GROWTH_FLOOR", "profile_blocks"]

TOP_LINES = 5
RSS_LINES = 5
HOLDING_PERCENT = 1.0  # a Fil line below this share of the peak is noise (thread pools, imports), not shown
RSS_GROWTH_FLOOR = 64 * 1024  # memory_profiler reads RSS in pages: a smaller growth is not the line's doing


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="one or more workloads, side by side")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a profile is stopped")
    add_corpus_options(parser)


def _call(args: argparse.Namespace) -> Said:
    from memreplay.studies.fil import profile_workloads

    results = prepare_results_directory(args.results)
    run = profile_workloads(args.workloads, args.scale, args.timeout, results, corpus_cache(results, args.corpora))
    return record_said(KIND, run, 0 if all(p.outcome == "ok" for p in run.record.profiles) else 1)


def profile_blocks(run: Path, profiles: Sequence[TaskProfile]) -> list[Block]:
    """Per profile: its peak, the lines holding memory at the peak (Fil), the lines that grew RSS
    most (memory_profiler) and, on the page, Fil's flame graph."""
    blocks: list[Block] = []
    for p in profiles:
        blocks.append(Heading(f"{p.workload}: {p.figure} on {Path(p.input).name} ({format_bytes(p.input_bytes)})"))
        if p.outcome != "ok":
            blocks.append(Text(f"Not profiled ({p.outcome}): {p.reason}"))
            continue
        blocks.append(Text(f"Fil's peak of tracked allocations: {format_bytes(p.peak_tracked_bytes or 0)}."))
        lines = [(f"{Path(t.file).name}:{t.line}", t.function, t.code, format_bytes(t.bytes), f"{t.percent:.1f} %")
                 for t in p.top_lines if t.percent >= HOLDING_PERCENT][:TOP_LINES]
        if lines:
            blocks.append(Table(("where", "function", "source line", "held at the peak", "share"), lines,
                                caption="Lines holding memory at the peak (Fil)", numeric=(3, 4), code=(2,)))
        if p.line_rss is None:
            blocks.append(Text(f"memory_profiler: not measured ({p.line_rss_error or 'no reason given'})."))
        else:
            growing = sorted((line for line in p.line_rss if line.increment_bytes >= RSS_GROWTH_FLOOR),
                             key=lambda line: line.increment_bytes, reverse=True)[:RSS_LINES]
            if growing:
                blocks.append(Table(("where", "source line", "RSS after", "added"),
                                    [(f"{Path(line.file).name}:{line.line}", line.code, format_bytes(line.rss_bytes),
                                      format_bytes(line.increment_bytes)) for line in growing],
                                    caption="Lines that grew RSS most (memory_profiler)", numeric=(2, 3), code=(1,)))
        svg = beside(run, p.directory) / "peak-memory.svg" if p.directory else None
        if svg is not None and svg.exists():
            interactive = svg.parent.resolve() / "index.html"
            blocks.append(Picture(f"Fil's flame graph of {p.workload} at its peak (interactive: {interactive})",
                                  svg.read_bytes()))
    return blocks


def _sections(run: Path, record: ProfileRecord, context: ReportContext) -> list[Section]:
    return [Section("Fil profiles", profile_blocks(run, record.profiles)),
            environment_section(record.environment, [("scale", record.settings.scale),
                                                     ("time limit", record.settings.timeout_s)])]


KIND = Kind(
    tag="profile", record_type=ProfileRecord, sections=_sections,
    commands=(Command("profile", "Which lines hold the memory?",
                      "Fil and memory_profiler profiles of each workload's largest task", _configure, _call),),
)
