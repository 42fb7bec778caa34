"""A sweep's view of Dask's memory manager: per case and worker, what it spilled, wrote and read,
how long it was paused and how its memory split into managed and unmanaged at its peak; and,
for the cases that spilled or paused, each worker's memory drawn as the dashboard draws it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from memreplay.kinds.sweep_figures import case_directory
from memreplay.records.schema import CaseResult, SweepRecord, WorkerMemory
from memreplay.records.timeline_samples import SCHEDULER, read_timeline
from memreplay.report.blocks import Block, Plots, Section, Table, Text
from memreplay.report.plots import NARROW, memory_manager_plot
from memreplay.report.units import mib_text

__all__ = ["MEANINGS", "memory_manager_plots", "memory_manager_section", "paused_text", "spilled_text"]

# What each figure means, in Dask's words (docs/how-to/memory-manager.md says the same, at length).
MEANINGS = (
    "Managed: the sizeof of the results a worker holds in memory. Unmanaged: its RSS minus that (the "
    "interpreter, libraries, what running tasks allocate, and memory the allocator has not returned). "
    "Spilled: results the worker moved to disk once managed memory passed its target (or its RSS passed "
    "spill), as their sizeof and as their bytes on disk; peak is the largest at any moment, summed over the "
    "workers. Written and read: bytes to and from the spill files; spilling and unspilling: the seconds spent "
    "serializing, compressing and writing, and reading them back. Paused: the time a worker's RSS was above its "
    "pause threshold, when it starts no task."
)


def spilled_text(case: CaseResult) -> str:
    memory = case.memory_manager
    if memory is None:
        return "-"
    return mib_text(memory.spilled_peak_bytes) if memory.spilled else "none"


def paused_text(case: CaseResult) -> str:
    memory = case.memory_manager
    if memory is None:
        return "-"
    return _seconds(memory.paused_s) if memory.paused_s else "none"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def _spilled_cell(worker: WorkerMemory) -> str:
    peak = worker.spilled_peak
    if not worker.spilling:
        return "off"
    if peak is None:
        return "-"
    return mib_text(peak.memory) + ("" if peak.disk == peak.memory else f" ({mib_text(peak.disk)} on disk)")


def _files(size: int | None, count: int | None) -> str:
    return "-" if size is None else f"{mib_text(size)} ({count})"


def _worker_row(case: CaseResult, worker: WorkerMemory) -> tuple[str, ...]:
    end = worker.spilled_end
    return (case.id, worker.worker, _spilled_cell(worker), "gone" if end is None else mib_text(end.memory),
            _files(worker.disk_write_bytes, worker.disk_write_count),
            _files(worker.disk_read_bytes, worker.disk_read_count),
            _seconds(worker.spill_s), _seconds(worker.unspill_s),
            f"{worker.paused_s:.2f} s ({worker.pauses})" if worker.pauses else "none",
            mib_text(worker.managed_at_peak_bytes), mib_text(worker.unmanaged_at_peak_bytes))


def _case_row(case: CaseResult) -> tuple[str, ...]:
    memory = case.memory_manager
    assert memory is not None
    seconds = sum((w.spill_s or 0) + (w.unspill_s or 0) for w in memory.workers)
    paused = [w for w in memory.workers if w.pauses]
    return (case.id, case.outcome, spilled_text(case), mib_text(memory.disk_write_bytes), _seconds(seconds),
            f"{_seconds(memory.paused_s)}, {len(paused)}/{len(memory.workers)} workers" if paused else "none")


def memory_manager_section(record: SweepRecord) -> list[Section]:
    """The cases that spilled or paused, case by case (also in the terminal) and worker by worker."""
    recorded = [case for case in record.cases if case.memory_manager is not None]
    if not recorded:
        return []
    busy = [case for case in recorded if case.memory_manager and (case.memory_manager.spilled or
                                                                    case.memory_manager.paused_s)]
    if not busy:
        return [Section("Dask's memory manager", [
            Text(MEANINGS, note=True), Text(f"No worker spilled or paused in any of the {len(recorded)} cases.")])]
    quiet = len(recorded) - len(busy)
    by_case = Table(("case", "outcome", "spilled at peak", "written", "spill time", "paused"),
                    [_case_row(case) for case in busy], numeric=(2, 3, 4),
                    caption=f"The {len(busy)} cases that spilled or paused; {quiet} more did neither")
    rows, styles = [], []
    for case in busy:
        assert case.memory_manager is not None
        for worker in case.memory_manager.workers:
            rows.append(_worker_row(case, worker))
            styles.append("flag" if worker.pauses else "")
    by_worker = Table(
        ("case", "worker", "spilled at peak", "at end", "written (files)", "read (files)", "spilling", "unspilling",
         "paused (times)", "managed at peak RSS", "unmanaged at peak RSS"),
        rows, numeric=(2, 3, 4, 5, 6, 7, 8, 9, 10), row_styles=styles)
    return [Section("Dask's memory manager", [Text(MEANINGS, note=True), by_case]),
            Section("Dask's memory manager, worker by worker", [by_worker], terminal=False)]


def memory_manager_plots(run: Path, record: SweepRecord) -> list[Block]:
    """For each case that spilled or paused, each worker's managed, unmanaged and spilled memory."""
    plots = []
    for case in record.cases:
        memory = case.memory_manager
        if memory is None or not (memory.spilled or memory.paused_s) or case.timeline is None:
            continue
        path = case_directory(run, case) / case.timeline.csv
        if not path.exists():
            continue
        series: dict[str, list[tuple[float, int, int, int]]] = defaultdict(list)
        for row in read_timeline(path):
            if row.process != SCHEDULER and row.managed_bytes is not None:
                # spilled as the dashboard draws it: its bytes on disk
                series[row.process].append((row.time_s, row.managed_bytes, row.unmanaged_bytes or 0,
                                            row.spilled_disk_bytes or 0))
        figures = []
        for worker in memory.workers:
            points = series.get(worker.worker, [])
            if not points:
                continue
            figures.append(memory_manager_plot(
                f"worker {worker.worker}", [p[0] for p in points], [p[1] for p in points],
                [p[2] for p in points], [p[3] for p in points], worker.settings.get("memory_limit"),
                worker.settings, worker.paused_spans, width=NARROW))
        if figures:
            plots += [Text(f"{case.id} ({case.outcome})"), Plots(figures)]
    return plots
