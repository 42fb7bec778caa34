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
from memreplay.records.schema import FootprintComparison, SchedulerLadder, SchedulerRecord
from memreplay.records.store import prepare_results_directory
from memreplay.report.blocks import Block, Items, Plots, Section, Table, Text
from memreplay.report.plots import GraphLine, scheduler_ladder_plot, structures_plot, timeline_plot
from memreplay.report.units import signed_bytes

__all__ = ["KIND", "ladder_sections", "structures_table"]

MILLION = 1_000_000  # the graph size the answer gives a limit for


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="40,000 transitions and 2 s idle")
    parser.add_argument("--transitions", type=int, help="transitions to drive (default 200,000)")
    parser.add_argument("--idle", type=float, help="idle seconds before measuring (default 10)")
    parser.add_argument("--default", help="the default preset (memreplay's own configs/scheduler/default.toml)")
    parser.add_argument("--trimmed", help="the trimmed preset (memreplay's own configs/scheduler/trimmed.toml)")
    parser.add_argument("--ladder", action="store_true",
                        help="then the scheduler ladder: graphs of growing size held by a scheduler with no workers, "
                             "a model per shape and preset, the largest graph held out, then run on workers")
    parser.add_argument("--sizes", type=int, nargs="+", metavar="TASKS",
                        help="the ladder's graph sizes in tasks, at least 4, the largest held out "
                             "(default 10000 20000 30000 40000 50000 60000; --quick 1000 2000 4000 8000)")
    parser.add_argument("--shapes", nargs="+", metavar="SHAPE",
                        help="the ladder's graph shapes (default all: independent tree shuffle)")
    add_results_option(parser)


def _call(args: argparse.Namespace) -> Said:
    from memreplay.plan.packaged import packaged_config
    from memreplay.studies.scheduler import run_study

    default = args.default or packaged_config("scheduler/default.toml")
    trimmed = args.trimmed or packaged_config("scheduler/trimmed.toml")
    run = run_study(default, trimmed, prepare_results_directory(args.results), quick=args.quick,
                    transitions=args.transitions, idle_s=args.idle, ladder=args.ladder, ladder_sizes=args.sizes,
                    ladder_shapes=args.shapes)
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
    if record.ladder is not None:
        sections.extend(ladder_sections(record.ladder))
    settings = [("transitions", record.settings.transitions), ("idle s", record.settings.idle_s)]
    if record.settings.ladder_sizes:
        settings += [("ladder sizes", " ".join(f"{size:,}" for size in record.settings.ladder_sizes)),
                     ("ladder shapes", " ".join(record.settings.ladder_shapes))]
    sections.append(environment_section(record.environment, settings))
    return sections


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f} %"


def _per_task(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f} B"


def ladder_sections(ladder: SchedulerLadder) -> list[Section]:
    """The scheduler ladder: the answer (per preset, what a graph needs per task and the limit
    for a million tasks), the models with their held-out check, the logs' bounds, the graphs
    run on workers against their prediction, and a plot per preset."""
    from memreplay.analysis.scheduler_model import GOAL_PERCENT, limit_text, scheduler_limit

    presets = list(dict.fromkeys(model.preset for model in ladder.models))
    answer = []
    for preset in presets:
        models = [model for model in ladder.models if model.preset == preset]
        shapes = ", ".join(f"{model.shape} {_per_task(model.bytes_per_task)}" for model in models)
        line = f"Under {preset}, a graph held by the scheduler takes per task: {shapes}."
        limit = scheduler_limit(ladder, MILLION, preset)
        if limit is not None:
            line += f" Its memory limit {limit_text(limit)}."
        answer.append(line)
    misses = [f"{m.preset} {m.shape} ({_percent(m.heldout.error_percent)})" for m in ladder.models
              if m.heldout.error_percent is None or abs(m.heldout.error_percent) > GOAL_PERCENT]
    misses += [f"{c.preset} {c.shape} run ({_percent(c.error_percent)})" for c in ladder.executed
               if c.role == "check" and (c.error_percent is None or abs(c.error_percent) > GOAL_PERCENT)]
    answer.append(f"Beyond {GOAL_PERCENT:g} %: {', '.join(misses)}." if misses else
                  f"Every held-out graph and every graph run on workers was predicted within {GOAL_PERCENT:g} %.")
    sections = [Section("The scheduler's memory per graph", [Items(answer)], style="answer")]
    if ladder.models:
        sections.append(Section("Scheduler ladder: the graph's part", [Table(
            ("preset", "shape", "per task", "held-out tasks", "predicted", "measured", "error", "running adds",
             "transitions/task"),
            [(m.preset, m.shape, _per_task(m.bytes_per_task), f"{m.heldout.tasks:,}",
              format_bytes(m.heldout.predicted_bytes), format_bytes(m.heldout.measured_bytes),
              _percent(m.heldout.error_percent), _per_task(m.running_bytes_per_task),
              "-" if m.transitions_per_task is None else f"{m.transitions_per_task:.2f}") for m in ladder.models],
            caption="What a graph adds to a fresh scheduler with no workers (its RSS with the graph held, less its "
                    "bounded logs; each RSS read once the heap's free pages were handed back), fitted per task on "
                    "the smaller graphs and the largest predicted; running adds: "
                    "per task, what the second-largest graph added beyond that while it ran on workers",
            numeric=(2, 3, 4, 5, 6, 7, 8),
            row_styles=["" if m.heldout.error_percent is not None and abs(m.heldout.error_percent) <= GOAL_PERCENT
                        else "flag" for m in ladder.models])]))
    if ladder.logs:
        rows = [(preset, part.structure, "-" if part.bytes_per_entry is None else f"{part.bytes_per_entry:,.0f}",
                 f"{part.entries_per_transition:.4f}", "unbounded" if part.capacity is None else f"{part.capacity:,}",
                 "-" if part.bound_bytes is None else format_bytes(part.bound_bytes))
                for preset, parts in ladder.logs.items() for part in parts]
        sections.append(Section("Scheduler ladder: the logs' part", [Table(
            ("preset", "log", "B/entry", "entries/transition", "capacity", "at most"), rows,
            caption="Each bounded log, from the study's executed scenario under the preset: an entry's deep size, "
                    "entries per transition, and the most its length settings let it hold",
            numeric=(2, 3, 4, 5))]))
    if ladder.executed:
        sections.append(Section("Scheduler ladder: graphs run on workers", [Table(
            ("role", "preset", "shape", "tasks", "workers", "seconds", "start RSS", "predicted peak", "measured peak",
             "error"),
            [(c.role, c.preset, c.shape, f"{c.tasks:,}", c.workers, f"{c.seconds:.1f}", format_bytes(c.rss_start_bytes),
              "-" if c.predicted_bytes is None else format_bytes(c.predicted_bytes), format_bytes(c.peak_bytes),
              _percent(c.error_percent)) for c in ladder.executed],
            caption="The scheduler's peak RSS while a graph ran on single-threaded workers (exact: clear_refs where "
                    "Linux allows it). The second-largest graph of each shape calibrates what running adds; the "
                    "largest is predicted: start RSS + graph held + running + logs after its transitions",
            numeric=(3, 4, 5, 6, 7, 8, 9),
            row_styles=["" if c.role == "calibration" or (c.error_percent is not None
                                                          and abs(c.error_percent) <= GOAL_PERCENT)
                        else "flag" for c in ladder.executed])]))
    plots = []
    for preset in presets:
        lines = []
        for model in (m for m in ladder.models if m.preset == preset):
            points = [p for p in ladder.points if p.preset == preset and p.shape == model.shape]
            lines.append(GraphLine(model.shape, [p.tasks for p in points], [p.graph_bytes for p in points],
                                   model.bytes_per_task, model.intercept_bytes,
                                   (model.heldout.tasks, model.heldout.predicted_bytes, model.heldout.measured_bytes)))
        plots.append(scheduler_ladder_plot(f"Graph held by the scheduler, preset {preset}", lines))
    if plots:
        sections.append(Section("Scheduler ladder: graph against tasks", [Plots(plots)], terminal=False))
    return sections


KIND = Kind(
    tag="scheduler", record_type=SchedulerRecord, sections=_sections,
    commands=(Command("scheduler", "How much memory does the scheduler hold?",
                      "the scheduler's memory under the default and the trimmed preset (and the default again)",
                      _configure, _call),),
)
