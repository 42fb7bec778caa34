"""The kind ``probe`` (``memreplay probe``, ``nox -s bench-probe``): the per-task probe's
accuracy on a ground-truth graph and its overhead on tiny tasks, beside dask-memusage."""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

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
from memreplay.report.units import mib_text

__all__ = ["KIND"]

GOAL = "max(1 MiB, 1 %)"


def _configure(parser: argparse.ArgumentParser) -> None:
    add_results_option(parser)
    parser.add_argument("--truth-tasks", type=int, default=40, help="tasks in the ground-truth graph")
    parser.add_argument("--tiny-tasks", type=int, default=10_000, help="tasks in the overhead graph")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the overhead graph")
    parser.add_argument("--rows-tasks", type=int, default=100_000, help="tasks in the every-row check (0: skip)")


def _call(args: argparse.Namespace) -> Said:
    from memreplay.studies.probe_benchmark import run_probe_benchmark

    run = run_probe_benchmark(prepare_results_directory(args.results), args.truth_tasks, args.tiny_tasks,
                              args.repeats, args.rows_tasks)
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
            Text(f"{o.tasks:,} tiny tasks, 2 workers × 1 thread, {o.repeats} interleaved repeats."),
            Table(("probe", "median s", "ratio of medians", "median of paired ratios", "min", "max"),
                  [(probe, f"{o.median_seconds[probe]:.3f}", f"{o.overhead_ratio[probe]:.3f}",
                    f"{o.paired_ratio_median[probe]:.3f}", f"{min(spread[probe]):.3f}", f"{max(spread[probe]):.3f}")
                   for probe in o.median_seconds], numeric=(1, 2, 3, 4, 5))]))
    sections.append(environment_section(record.environment, [
        ("truth tasks", record.settings.truth_tasks), ("tiny tasks", record.settings.tiny_tasks),
        ("repeats", record.settings.repeats), ("rows tasks", record.settings.rows_tasks)]))
    return sections


KIND = Kind(
    tag="probe", record_type=ProbeRecord, sections=_sections,
    commands=(Command("probe", "Measuring memreplay itself", "the per-task probe's accuracy and overhead, beside "
                      "dask-memusage", _configure, _call, aliases=("bench-probe",)),),
)
