"""A sweep's figures drawn from its cases' files: configuration heat maps, per-prefix peak
distributions, the fit of peak increase on input size in the sweep's own tasks, and every
case's memory timeline. The page shows them; the terminal prints the model's table only."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memreplay.analysis.benchmark_figures import figures_of_case
from memreplay.analysis.task_summary import largest_by_prefix
from memreplay.errors import UserError
from memreplay.plan.sizes import compact_bytes
from memreplay.records.schema import CaseResult, SweepRecord
from memreplay.records.task_rows import MIB, TaskRow, iter_task_rows, parse_task_key
from memreplay.records.timeline_samples import read_timeline
from memreplay.report.blocks import Plots, Section, Table, Text
from memreplay.report.locate import beside
from memreplay.report.plots import (
    MOST_POINTS,
    NARROW,
    THINNED_NOTE,
    HeatCell,
    TaskPoint,
    heat_map,
    model_plot,
    peak_distribution,
    thin,
    thinned_title,
    timeline_plot,
)
from memreplay.report.units import mib_text, signed_bytes

__all__ = ["case_directory", "distributions_section", "heat_maps_section", "model_section", "task_rows_by_workload",
           "timelines_section"]


def case_directory(run: Path, case: CaseResult) -> Path:
    return beside(run, case.directory)


def _task_rows(run: Path, case: CaseResult) -> Iterator[TaskRow]:
    """The case's rows; a tasks.csv the record names but the run lacks is one line, not a gap."""
    if case.task_memory is not None:
        path = case_directory(run, case) / case.task_memory.csv
        if not path.is_file():
            raise UserError(f"{path}: missing, though the record of case {case.id} names it "
                            f"({case.task_memory.rows} rows); was the run copied in part?")
        yield from iter_task_rows(path)


def heat_maps_section(record: SweepRecord) -> Section | None:
    grouped: dict[tuple[str, str, str], list[CaseResult]] = defaultdict(list)
    for case in record.cases:
        grouped[(case.workload.name, case.config.shape, compact_bytes(case.config.memory_limit) +
                 ("" if case.config.processes else " (threads)"))].append(case)
    if len(grouped) < 2:
        return None
    marked = {"oom": "OOM", "timeout": "timeout", "error": "error"}

    def cells(figure: str, shown) -> list[HeatCell]:
        made = []
        for (workload, shape, limit), cases in grouped.items():
            values = [v for c in cases if (f := figures_of_case(c)) and (v := f[figure]) is not None]
            worst = next((c for c in cases if c.outcome != "ok"), cases[0])
            value = statistics.median(values) if values and worst.outcome == "ok" else None
            made.append(HeatCell(row=(workload, shape), column=limit, value=value,
                                 text=marked.get(worst.outcome, "-") if value is None else shown(value),
                                 outcome=worst.outcome, case=worst.id))
        return made

    figures = [
        heat_map("Worker peak RSS", cells("worker_peak_rss_bytes", lambda v: f"{v / MIB:,.0f} MiB"), "peak RSS"),
        heat_map("Wall time", cells("wall_time_s", lambda v: f"{v:.1f} s"), "wall time"),
        heat_map("Cost (GiB·s: time × workers × limit)",
                 cells("cost_gib_s", lambda v: f"{v:,.1f}" if v < 10 else f"{v:,.0f}"), "GiB·s"),
    ]
    return Section("Configurations", [
        Text("Rows: workload and shape (workers × threads); columns: memory limit per worker. Colour is "
             "relative within a workload (darker blue: more). Red cells ran out of memory, purple timed out, grey "
             "failed. With repeats, the median.", note=True),
        Plots(figures)], terminal=False)


def task_rows_by_workload(run: Path, record: SweepRecord) -> dict[str, list[tuple[TaskRow, str]]]:
    """Every measured task of the cases that finished ``ok`` (what the model is fitted on), with
    its case id; aliases, which run no code, left out."""
    rows: dict[str, list[tuple[TaskRow, str]]] = defaultdict(list)
    for case in record.cases:
        if case.outcome == "ok":
            rows[case.workload.name] += [(row, case.id) for row in _task_rows(run, case)
                                         if not row.alias and row.peak_increase_bytes is not None]
    return rows


def _point(row: TaskRow, case: str) -> TaskPoint:
    return TaskPoint(key=row.task_key, prefix=row.task_prefix, peak_increase_bytes=row.peak_increase_bytes or 0,
                     input_bytes=row.input_bytes, worker=row.worker, case=case, alone=row.alone)


def _thinned(measured: list[tuple[TaskRow, str]]) -> list[TaskPoint]:
    """The points a plot of these tasks draws: all of them, or past MOST_POINTS a thinned set."""
    return [_point(*m) for m in thin(measured, MOST_POINTS, group=lambda m: m[0].task_prefix,
                                     value=lambda m: m[0].peak_increase_bytes or 0)]


def _distribution(workload: str, measured: list[tuple[TaskRow, str]]) -> Any:
    points = _thinned(measured)
    return peak_distribution(thinned_title(workload, len(points), len(measured)), points)


def distributions_section(rows: dict[str, list[tuple[TaskRow, str]]]) -> Section | None:
    if not rows:
        return None
    table = []
    for workload, measured in rows.items():
        case_of = {id(row): case for row, case in measured}
        every = [row for row, _ in measured]
        alone = largest_by_prefix(every, alone_only=True)
        for prefix, row in largest_by_prefix(every).items():
            row = alone.get(prefix, row)  # alone in its worker wherever any task of the prefix was
            table.append((workload, prefix, row.task_key, mib_text(row.peak_increase_bytes),
                          mib_text(row.input_bytes), "alone" if row.alone else "beside others", row.worker,
                          case_of[id(row)]))
    thinned = any(len(measured) > MOST_POINTS for measured in rows.values())
    return Section("Peak increase per task", [
        Text("Every task of every case that finished, by prefix (the function the user wrote). Blue: the task "
             "ran alone in its worker, so its peak increase is its own; orange: other tasks ran beside it, so it "
             "may hold theirs too. Hover for the task." + (f" {THINNED_NOTE}" if thinned else ""), note=True),
        Plots([_distribution(workload, measured) for workload, measured in rows.items()]),
        Table(("workload", "prefix", "largest task", "peak increase", "input", "ran", "worker", "case"), table,
              caption="The largest task of each prefix (alone in its worker where any was)", numeric=(3, 4),
              code=(2,))], terminal=False)


def model_section(record: SweepRecord, rows: dict[str, list[tuple[TaskRow, str]]]) -> Section | None:
    model = record.summary.model
    if not model:
        return None
    by_prefix: dict[str, list[tuple[TaskRow, str]]] = defaultdict(list)
    for measured in rows.values():
        for row, case in measured:
            if row.alone and row.input_bytes:
                by_prefix[row.task_prefix].append((row, case))
    figures, table, thinned = [], [], False
    for prefix, m in sorted(model.items()):
        held = m.heldout
        error = "-" if held.error_percent is None else f"{held.error_percent:+.1f} %"
        used = [(row, case) for row, case in by_prefix[prefix] if parse_task_key(row.task_key)[0] == m.group]
        points = _thinned(used or by_prefix[prefix])
        thinned |= len(points) < len(used or by_prefix[prefix])
        figures.append(model_plot(thinned_title(f"{prefix}: held-out error {error}", len(points),
                                                len(used or by_prefix[prefix])),
                                  points, m.slope, m.intercept_bytes,
                                  (held.input_bytes, held.predicted_bytes, held.measured_bytes)))
        table.append((prefix, m.points, f"{m.slope:.2f}", signed_bytes(m.intercept_bytes), mib_text(held.input_bytes),
                      mib_text(held.predicted_bytes), mib_text(held.measured_bytes), error))
    ladders = ("" if not record.summary.ladders else
               " The size ladder above is the model memreplay sizes with: here each worker's earlier tasks leave "
               "the allocator holding memory that a small task reuses, so small inputs grow RSS less than alone.")
    return Section("Peak versus input size, in the sweep's tasks", [
        Text("Peak increase ≈ intercept + slope × input, fitted per prefix on tasks that ran alone. Held out: "
             "the largest input, predicted from the others (red cross) and measured (green circle)." + ladders
             + (f" {THINNED_NOTE}" if thinned else ""), note=True),
        Table(("task prefix", "tasks", "bytes/byte", "intercept", "held-out input", "predicted",
               "measured", "error"), table, numeric=(1, 2, 3, 4, 5, 6, 7)),
        Plots(figures)], terminal=not record.summary.ladders)


def timelines_section(run: Path, record: SweepRecord) -> Section | None:
    figures = []
    for case in record.cases:
        if case.timeline is None or not (path := case_directory(run, case) / case.timeline.csv).exists():
            continue
        series: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
        for row in read_timeline(path):
            series[row.process][0].append(row.time_s)
            series[row.process][1].append(row.rss_bytes)
        figures.append(timeline_plot(f"{case.id} ({case.outcome})", series, width=NARROW))
    if not figures:
        return None
    return Section("Memory timelines", [
        Text("RSS of every process, sampled every 50 ms; click a legend entry to hide its line. "
             "\"scheduler\" is the case's own scheduler process.", note=True),
        Plots(figures)], terminal=False)
