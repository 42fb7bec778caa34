"""The kind ``probe`` (``memreplay probe``, ``nox -s bench-probe``): the per-task probe's
accuracy on a ground-truth graph and its overhead on tiny tasks, beside dask-memusage."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from dask.utils import format_bytes

from memreplay.analysis.probe_accuracy import DURATION_BUCKETS, BucketSummary, paired_ratios, summarise_accuracy
from memreplay.kinds.base import (
    Command,
    Kind,
    ReportContext,
    Said,
    add_results_option,
    environment_section,
    record_said,
)
from memreplay.records.schema import ProbeRecord
from memreplay.records.store import prepare_results_directory
from memreplay.report.blocks import Items, Plots, Section, Table, Text
from memreplay.report.plots import probe_accuracy_plot
from memreplay.report.units import mib_text, signed_bytes

__all__ = ["KIND"]

GOAL = "max(1 MiB, 1 %)"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_results_option(parser)
    parser.add_argument("--truth-tasks", type=int, default=40, help="tasks in the ground-truth graph")
    parser.add_argument("--tiny-tasks", type=int, default=10_000, help="tasks in the overhead graph")
    parser.add_argument("--repeats", type=int, default=5,
                        help="repeats of the overhead graph, each a fresh cluster running every arm")
    parser.add_argument("--rows-tasks", type=int, default=100_000, help="tasks in the every-row check (0: skip)")
    parser.add_argument("--scale-tasks", type=int, default=100_000,
                        help="tasks in the at-scale arm, on a scheduler process of its own (0: skip)")
    parser.add_argument("--scale-repeats", type=int, default=2,
                        help="repeats of the at-scale arm, each a fresh process running both arms (at least 2)")
    parser.add_argument("--blocks", type=int, default=5,
                        help="rounds the overhead graph's tasks run in, one block of every arm per round")


def _call(args: argparse.Namespace) -> Said:
    from memreplay.studies.probe_benchmark import run_probe_benchmark

    run = run_probe_benchmark(prepare_results_directory(args.results), args.truth_tasks, args.tiny_tasks,
                              args.repeats, args.rows_tasks, args.scale_tasks, args.scale_repeats, args.blocks)
    return record_said(KIND, run, text_file="comparison.txt")


def _bucket_cell(bucket: BucketSummary) -> str:
    error = bucket.median_relative_error
    return f"{'-' if error is None else f'{100 * error:.1f} %'} ({bucket.rows}/{bucket.tasks})"


def _sections(run: Path, record: ProbeRecord, context: ReportContext) -> list[Section]:
    summaries = [summarise_accuracy(accuracy) for accuracy in record.accuracy]
    answer = [f"{s.probe}, threads={s.threads}: {s.within_tolerance} of {s.tasks} tasks within {GOAL} of the truth, "
              f"{s.rows_present} with a row." for s in summaries]
    if record.overhead is not None:
        answer += [f"{probe}: {ratio:.3f} times the wall time without a probe (median of paired ratios)."
                   for probe, ratio in record.overhead.paired_ratio_median.items() if probe != "none"]
        seconds = record.overhead.seconds
        if {"timeline", "timeline-rss"} <= seconds.keys():  # what seeing the memory manager costs (schema 7)
            ratio = statistics.median(t / r for t, r in zip(seconds["timeline"], seconds["timeline-rss"]))
            answer.append(f"The memory manager's figures on every timeline sample: {ratio:.3f} times the wall time "
                          "of the timeline with RSS only (median of paired ratios).")
    if record.rows is not None:
        rows = record.rows
        answer.append(f"Rows: {rows.rows:,} of {rows.tasks:,} tasks have a row ({rows.missing} missing), "
                      f"{rows.seconds:.1f} s.")
    if record.at_scale is not None:
        scale = record.at_scale
        answer.append(f"At {scale.tasks:,} tiny tasks on a scheduler process of its own: "
                      f"{scale.paired_ratio_median:.3f} times the wall time without a probe; the collectors keep "
                      f"{scale.held_per_row_bytes:.1f} bytes per task row in the scheduler, which grew "
                      f"{scale.growth_per_row_bytes:+.0f} bytes per row "
                      "more than without.")
    sections = [Section("The answer", [Items(answer or ["Nothing was measured."])], style="answer")]
    if record.accuracy:
        sections.append(Section("Probe accuracy against the ground truth", [
            Table(("probe", "threads", "tasks", "rows", f"within {GOAL}", "≥ truth", "overlap rows",
                   "worst shortfall"),
                  [(s.probe, s.threads, s.tasks, s.rows_present, s.within_tolerance, s.at_least_truth,
                    s.overlapping_rows, mib_text(s.worst_shortfall_bytes)) for s in summaries],
                  numeric=(1, 2, 3, 4, 5, 6, 7)),
            Table(("probe", "threads", *(label for _, label in DURATION_BUCKETS)),
                  [(s.probe, s.threads, *(_bucket_cell(s.by_bucket[label]) for _, label in DURATION_BUCKETS))
                   for s in summaries], caption="Median relative error by task duration (rows present / tasks)"),
            Plots([probe_accuracy_plot(f"{a.probe}, threads={a.threads}", [r.truth_bytes for r in a.rows],
                                       [r.measured_bytes for r in a.rows], [r.key for r in a.rows])
                   for a in record.accuracy])]))
    if record.overhead is not None:
        o = record.overhead
        spread = paired_ratios(o)
        sections.append(Section("Probe overhead", [
            Text(f"{o.tasks:,} tiny tasks, 2 workers × 1 thread, {o.repeats} repeats. " + (
                f"Each repeat is one fresh cluster; every arm's tasks run in {o.blocks} blocks, one per round, "
                "and every round runs one block of every arm in an order rotating from round to round "
                "(the unprobed arm twice, none and none-again); a paired ratio is an arm's total over the "
                "unprobed total of its repeat, and none's, none-again's over none's, is the noise floor. "
                "dask-memusage, which cannot be removed, runs last, over an unprobed run just before it."
                if o.blocks > 1 else
                "Each repeat is one fresh cluster running every arm, each between two unprobed runs "
                "(dask-memusage, which cannot be removed, last, after one); a paired ratio is an arm's time "
                "over the unprobed runs beside it, and none's is each unprobed run over the one before it: "
                "the noise floor." if o.paired_ratios is not None else
                "Every arm on a fresh cluster of its own, interleaved; a paired ratio is an arm's time over "
                "the unprobed run of the same repeat.")),
            Table(("arm", "median s", "ratio of medians", "median of paired ratios", "min", "max"),
                  [(probe, f"{o.median_seconds[probe]:.3f}", f"{o.overhead_ratio[probe]:.3f}",
                    f"{o.paired_ratio_median[probe]:.3f}", f"{min(spread[probe]):.3f}", f"{max(spread[probe]):.3f}")
                   for probe in o.median_seconds], numeric=(1, 2, 3, 4, 5))]))
    if record.at_scale is not None:
        scale = record.at_scale
        rows = [(arm, " ".join(f"{t:.1f}" for t in scale.seconds[arm]),
                 " ".join(signed_bytes(g) for g in scale.growth_bytes[arm])) for arm in scale.seconds]
        sections.append(Section("Probe overhead at scale", [
            Text(f"{scale.tasks:,} tiny tasks, a dask scheduler process and 2 workers × 1 thread, {scale.repeats} "
                 "repeats; memreplay: the per-task rows and the memory timeline, as a case installs them. " + (
                     "Each repeat is one fresh process running both arms, the first alternating; growth, the "
                     "scheduler's RSS once the graph is forgotten less its RSS before it, is the first arm's "
                     "(a second graph reuses what the allocator kept of the first)."
                     if scale.arms_per_process == 2 else
                     "Each arm on a fresh process of its own. Growth: the scheduler's RSS once the graph is "
                     "forgotten, less its RSS before it.")),
            Table(("arm", "seconds", "scheduler growth"), rows, numeric=(1, 2)),
            Items([f"Paired ratio: median {scale.paired_ratio_median:.3f} (from {scale.paired_ratio_range[0]:.3f} to "
                   f"{scale.paired_ratio_range[1]:.3f}).",
                   f"The collectors' own state at the end: {', '.join(format_bytes(b) for b in scale.held_bytes)} "
                   f"({scale.held_per_row_bytes:.1f} bytes per task row at most).",
                   f"The scheduler grew {scale.growth_per_row_bytes:+.1f} bytes per task row more with them than "
                   "without (medians of each process's first graph; RSS, so allocator noise included)."])]))
    sections.append(environment_section(record.environment, [
        ("truth tasks", record.settings.truth_tasks), ("tiny tasks", record.settings.tiny_tasks),
        ("repeats", record.settings.repeats), ("rows tasks", record.settings.rows_tasks),
        ("scale tasks", record.settings.scale_tasks or "not run"),
        ("scale repeats", record.settings.scale_repeats or "-"), ("overhead rounds", record.settings.blocks)]))
    return sections


KIND = Kind(
    tag="probe", record_type=ProbeRecord, sections=_sections,
    commands=(Command("probe", "Measuring memreplay itself", "the per-task probe's accuracy and overhead, beside "
                      "dask-memusage", _configure, _call, aliases=("bench-probe",)),),
)
