"""``memreplay recommend``: the cheapest configuration of a machine that runs a sweep's
workloads without a kill, as the terminal prints it and as a sweep's report shows it (the same
rows)."""

from __future__ import annotations

import argparse
from pathlib import Path

from dask.utils import format_bytes

from memreplay.analysis.recommend import DEFAULT_MARGIN, Recommendation
from memreplay.analysis.scheduler_model import SchedulerLimit, limit_text
from memreplay.errors import UserError
from memreplay.kinds.base import Command, Said
from memreplay.plan.sizes import compact_bytes, parse_size
from memreplay.records.schema import SchedulerLadder
from memreplay.report.blocks import Items, Section, Table, Text
from memreplay.report.text import sections_text

__all__ = ["COMMAND", "machine_option", "recommendation_section", "check_tasks_option", "scheduler_ladder_option",
           "scheduler_limits_option", "scheduler_options"]


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a sweep's run directory or run.json")
    parser.add_argument("--cores", type=int, required=True, help="cores of the target machine")
    parser.add_argument("--memory", required=True, help="RAM of the target machine, e.g. 16GiB")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"share of RAM kept in reserve (default {DEFAULT_MARGIN})")
    parser.add_argument("--input-size", metavar="SIZE",
                        help="size for tasks of this input (e.g. 2GiB), larger than any measured: the peak increase "
                             "comes from the run's size model")
    scheduler_options(parser)
    parser.add_argument("--json", action="store_true", help="the same advice as JSON")


def scheduler_options(parser: argparse.ArgumentParser) -> None:
    """``--tasks`` and ``--scheduler-ladder``: the scheduler's memory limit for a graph this size."""
    parser.add_argument("--tasks", type=int, metavar="N",
                        help="the scheduler's memory limit for a graph of N tasks, from a scheduler ladder")
    parser.add_argument("--scheduler-ladder", metavar="RUN",
                        help="the ladder to size the scheduler from (memreplay scheduler --ladder; default: the "
                             "newest one beside RUN)")


def scheduler_ladder_option(run: str | Path, given: str | None,
                            required: bool) -> tuple[SchedulerLadder, Path] | None:
    """The scheduler ladder of ``--scheduler-ladder``, else the newest beside the run (None if
    there is none and it is not ``required``), with its run directory."""
    from memreplay.records.schema import SchedulerRecord
    from memreplay.records.store import load_record, newest_scheduler_ladder

    path = Path(given) if given is not None else newest_scheduler_ladder(run)
    if path is None:
        if required:
            raise UserError(f"--tasks: no scheduler ladder beside {run}: run memreplay scheduler --ladder "
                            "(with the same --results), or give --scheduler-ladder RUN")
        return None
    record = load_record(path, SchedulerRecord)
    if record.ladder is None or not record.ladder.models:
        raise UserError(f"--scheduler-ladder: {path} is a scheduler run without a ladder "
                        "(memreplay scheduler --ladder makes one)")
    if not record.ladder.executed:
        raise UserError(f"--scheduler-ladder: {path}: its ladder ran no graph on workers, so it has no limit to give")
    return record.ladder, path.parent if path.name == "run.json" else path


def check_tasks_option(tasks: int | None) -> None:
    if tasks is not None and tasks < 1:
        raise UserError(f"--tasks must be at least 1, got {tasks}")


def scheduler_limits_option(run: str, tasks: int | None, given: str | None) -> list[SchedulerLimit]:
    """The scheduler's limit under every preset for ``--tasks`` (none without it)."""
    from memreplay.analysis.scheduler_model import scheduler_limits

    check_tasks_option(tasks)
    if tasks is None:
        if given is not None:
            raise UserError("--scheduler-ladder: only with --tasks (the graph's task count)")
        return []
    found = scheduler_ladder_option(run, given, required=True)
    assert found is not None  # required
    ladder, path = found
    return scheduler_limits(ladder, tasks, str(path))


def machine_option(cores: int | None, memory: str | None) -> tuple[int, int] | None:
    """``--cores`` and ``--memory`` together (cores, bytes), or neither."""
    if (cores is None) != (memory is None):
        raise UserError("give --cores and --memory together (or neither: the machine the run was measured on)")
    if cores is None or memory is None:
        return None
    if cores < 1:
        raise UserError(f"--cores must be at least 1, got {cores}")
    return cores, parse_size(memory, "--memory")


def _call(args: argparse.Namespace) -> Said:
    import msgspec

    from memreplay.analysis.recommend import recommend
    from memreplay.plan.distributed_config import kill_fraction
    from memreplay.records.schema import SweepRecord
    from memreplay.records.store import load_record

    machine = machine_option(args.cores, args.memory)  # every option checked before any file is read
    if not 0 <= args.margin < 1:  # NaN fails this too
        raise UserError(f"--margin must be in [0, 1), got {args.margin}")
    assert machine is not None  # both options are required
    input_bytes = None if args.input_size is None else parse_size(args.input_size, "--input-size")
    record = load_record(args.run, SweepRecord)
    limits = scheduler_limits_option(args.run, args.tasks, args.scheduler_ladder)
    advice = recommend(record, *machine, args.margin, kill_fraction(), input_bytes)
    advice = msgspec.structs.replace(advice, scheduler=limits)
    if args.json:
        return Said(msgspec.json.format(msgspec.json.encode(advice)).decode())
    return Said(sections_text([recommendation_section(advice)]))


def _machine_said(advice: Recommendation, measured_on: bool) -> str:
    return (f"{advice.cores} cores and {format_bytes(advice.memory_bytes)}"
            + (" (the machine this ran on)" if measured_on else ""))


def recommendation_section(advice: Recommendation, measured_on: bool = False) -> Section:
    """The advice per workload: its largest task, the shape and limit to use, and the fastest and
    cheapest measured cases. ``measured_on``: the machine is the one the run was measured on."""
    footprint = "not measured" if advice.worker_footprint_bytes is None else format_bytes(advice.worker_footprint_bytes)
    blocks: list = [Text(
        f"For {_machine_said(advice, measured_on)}, keeping {advice.margin:.0%} in reserve "
        f"({format_bytes(advice.usable_bytes)} usable). A worker's own footprint, measured in the run: {footprint}; "
        f"its nanny kills it at {advice.kill_fraction:.0%} of its limit. Each limit = (footprint + threads × largest "
        "task) / kill fraction, rounded up.")]
    if advice.input_bytes is not None:
        blocks.append(Text(f"Sized for tasks of {format_bytes(advice.input_bytes)} of input: each task's peak "
                           "increase is predicted, not measured."))
    if not advice.workloads:
        blocks.append(Text("The run has no cases, so there is nothing to advise from: run a sweep first."))
        return Section("Recommendation", blocks)
    rows, reasons = [], []
    for workload, a in advice.workloads.items():
        rows.append((workload, "-" if a.largest_peak_increase_bytes is None else
                     format_bytes(a.largest_peak_increase_bytes), a.tasks_at_once,
                     f"{a.n_workers}x{a.threads_per_worker}, {compact_bytes(a.memory_limit or 0)} each"
                     if a.tasks_at_once else "-",
                     f"{a.fastest.shape} {a.fastest.memory_limit} ({a.fastest.wall_time_s:.1f} s)"
                     if a.fastest and a.fastest.wall_time_s is not None else "-",
                     f"{a.cheapest.shape} {a.cheapest.memory_limit} ({a.cheapest.cost_gib_s:,.0f} GiB·s)"
                     if a.cheapest and a.cheapest.cost_gib_s is not None else "-",
                     "-" if a.spills is None else "yes" if a.spills else "no",
                     len(a.oom_cases)))
        if a.reason:
            reasons.append(f"{workload}: {a.reason}")
        elif a.predicted_by:
            reasons.append(f"{workload}: largest task predicted by {a.predicted_by}")
        if a.spill_note:
            reasons.append(f"{workload}: {a.spill_note}")
        if a.borderline_cases:
            reasons.append(f"{workload}: not advised, within a few percent of the kill line: "
                           f"{', '.join(a.borderline_cases)}")
    blocks.append(Table(("workload", "largest task", "tasks at once", "use", "fastest measured", "cheapest measured",
                         "spills", "oom cases"), rows, numeric=(1, 2, 7)))
    if reasons:
        blocks.append(Items(reasons))
    if advice.scheduler:
        blocks.append(Items([f"The scheduler's memory limit {limit_text(limit)}." for limit in advice.scheduler]
                            + [f"From the scheduler ladder {advice.scheduler[0].ladder}."]))
    blocks.append(Text("memreplay recommend RUN --cores C --memory R (or report RUN --cores C --memory R) advises for "
                       "another machine; --tasks N adds the scheduler's limit for a graph of N tasks.", note=True))
    return Section("Recommendation", blocks)


COMMAND = Command("recommend", "Which cluster shape, on which machine?",
                  "the cheapest safe configuration for a machine, from a sweep", _configure, _call,
                  starts_processes=False)
