"""The kind ``size`` (``memreplay size``, and a sweep's ``size_ladder``): each task function
alone, in a fresh process per measurement, on inputs of growing size; the fit of its peak
increase on its input size, the largest input held out and predicted, and its duration's fit."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from memreplay.analysis.model import duration_error_text, heldout_error_text, ladder_duration_model, neighbours_cost
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
from memreplay.records.schema import SizeLadder, SizeRecord
from memreplay.records.store import prepare_results_directory
from memreplay.records.task_rows import MIB
from memreplay.report.blocks import Plots, Section, Table, Text
from memreplay.report.plots import TaskPoint, model_plot
from memreplay.report.units import mib_text, signed_bytes

__all__ = ["KIND", "ladders_section"]

LADDER_NOTE = (
    "Each task function alone, in a fresh process for every measurement, on leading cuts (1/16, 1/8, 1/4, 1/2, all) "
    "of the corpus' largest file, measured with the exact meter. The line is fitted on every measurement; held out, "
    "the largest input is predicted from the smaller ones (red cross) and measured (green circle). Goal: within "
    "10 % for a prefix whose memory grows with its input, within ±2 MiB for one whose peak increase does not grow "
    "(its error is then given in MiB). In brackets: the range of each repeat's own held-out error. "
    "memreplay recommend --input-size sizes larger inputs with this line. The duration of each measurement is "
    "fitted the same way, its largest input held out: the time per task at a larger input, for one task alone in a "
    "fresh process; in a cluster, tasks of other shapes may run slower or faster. All cores busy: the largest input "
    "run on every core at once (how many in brackets), each copy in a fresh process, against alone: what a task's "
    "neighbours cost it (memreplay plan models a machine's busy cores with it).")
DURATION_CAPTION = "Duration: time per task versus input size"


def _configure(parser: argparse.ArgumentParser) -> None:
    from memreplay.studies.size_ladder import LADDER_REPEATS

    parser.add_argument("workloads", nargs="+", metavar="WORKLOAD", help="one or more workloads with a task function")
    parser.add_argument("--repeats", type=int, default=LADDER_REPEATS,
                        help=f"measurements of each input size (default {LADDER_REPEATS})")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before one measurement is stopped")
    add_corpus_options(parser)


def _call(args: argparse.Namespace) -> Said:
    from memreplay.studies.size_ladder import size_workloads

    results = prepare_results_directory(args.results)
    run = size_workloads(args.workloads, args.scale, args.repeats, args.timeout, results,
                         corpus_cache(results, args.corpora))
    return record_said(KIND, run, 0 if all(ladder.outcome == "ok" for ladder in run.record.ladders) else 1)


def _goal(ladder: SizeLadder) -> str:
    goal = ("fewer than 3 sizes measured" if ladder.model is None else
            "within goal" if ladder.meets_goal else "misses goal")
    return goal + (f"; {ladder.outcome}: {ladder.reason}" if ladder.reason else "")


def _seconds(value: float) -> str:
    return f"{value:.3g}"


def _duration_row(ladder: SizeLadder) -> tuple[str, ...]:
    model = ladder_duration_model(ladder)  # a record before schema 8: fitted from its rungs
    cost = neighbours_cost(ladder)
    crowded = "-" if cost is None or ladder.contended is None else f"{cost[0]:.2f}× ({ladder.contended.processes})"
    if model is None:
        return (ladder.workload, "-", "-", "-", "-", "-", "-", crowded)
    held = model.heldout
    return (ladder.workload, _seconds(model.seconds_per_byte * MIB), _seconds(model.intercept_s),
            mib_text(held.input_bytes), _seconds(held.predicted_s), _seconds(held.measured_s),
            duration_error_text(ladder), crowded)


def ladders_section(ladders: Sequence[SizeLadder]) -> Section:
    """Every ladder's fit against its goal: one table and a plot per ladder, and a table of the
    duration's fit."""
    figures, rows, styles = [], [], []
    for ladder in ladders:
        model = ladder.model
        rows.append((ladder.workload, "-" if model is None else f"{model.slope:.2f}",
                     "-" if model is None else signed_bytes(model.intercept_bytes),
                     "-" if model is None else mib_text(model.heldout.input_bytes),
                     "-" if model is None else mib_text(model.heldout.predicted_bytes),
                     "-" if model is None else mib_text(model.heldout.measured_bytes),
                     heldout_error_text(ladder), _goal(ladder)))
        styles.append("" if ladder.meets_goal else "flag")
        if model is None:
            continue
        points = [TaskPoint(key=f"{rung.fraction:g} of {ladder.source}, repeat {repeat + 1}", prefix=ladder.prefix,
                            peak_increase_bytes=peak, input_bytes=rung.input_bytes, worker="a fresh process",
                            case=ladder.workload, alone=True)
                  for rung in ladder.rungs for repeat, peak in enumerate(rung.peak_increase_bytes)]
        held = model.heldout
        title = f"{ladder.workload} ({ladder.prefix}): held-out error {heldout_error_text(ladder)}"
        figures.append(model_plot(title, points, model.slope, model.intercept_bytes,
                                  (held.input_bytes, held.predicted_bytes, held.measured_bytes),
                                  points_label="one measurement, alone in a fresh process"))
    blocks = [Text(LADDER_NOTE, note=True),
              Table(("workload", "bytes/byte", "intercept", "held-out input", "predicted", "measured",
                     "error (repeats)", "goal"), rows, numeric=(1, 2, 3, 4, 5), row_styles=styles),
              Table(("workload", "s/MiB", "intercept s", "held out", "predicted s", "measured s",
                     "error (repeats)", "all cores busy"), [_duration_row(ladder) for ladder in ladders],
                    caption=DURATION_CAPTION, numeric=(1, 2, 3, 4, 5))]
    if figures:
        blocks.append(Plots(figures))
    return Section("Size ladder: peak increase versus input size", blocks)


def _sections(run: Path, record: SizeRecord, context: ReportContext) -> list[Section]:
    settings = record.settings
    ladders = (ladders_section(record.ladders) if record.ladders else
               Section("Size ladders", [Text("No ladder was measured.")]))
    return [ladders, environment_section(record.environment, [
        ("scale", settings.scale), ("repeats", settings.repeats),
        ("fractions", ", ".join(f"{f:g}" for f in settings.fractions)), ("time limit", settings.timeout_s)])]


KIND = Kind(
    tag="size", record_type=SizeRecord, sections=_sections,
    commands=(Command("size", "How much memory does each task need, and how does it grow?",
                      "peak increase against input size: each task function alone, in a fresh process, on 1/16 .. 1 "
                      "of the largest input", _configure, _call),),
)
