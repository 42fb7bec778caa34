"""``memreplay plan``: a rollout plan from a sweep and a catalog of machine types, as the terminal
prints it, as ``RUN/plan.json`` keeps it, as the sweep's report shows it (the same rows), and as
a matrix file per workload that ``memreplay sweep`` runs to check the plan at small scale."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path

import msgspec
from dask.utils import format_bytes

from memreplay.analysis.recommend import DEFAULT_MARGIN
from memreplay.analysis.rollout import MachinePlan, PlanInput, RolloutPlan, WorkloadPlan, place_schedulers
from memreplay.analysis.scheduler_model import limit_text
from memreplay.errors import UserError
from memreplay.kinds.base import Command, Said
from memreplay.kinds.recommendation import check_tasks_option, scheduler_ladder_option, scheduler_options
from memreplay.plan.sizes import compact_bytes, parse_duration, parse_size
from memreplay.records.schema import SweepRecord
from memreplay.report.blocks import Items, Plots, Section, Table, Text
from memreplay.report.units import duration_text

__all__ = ["COMMAND", "PLAN_FILE", "load_plan", "make_plan", "plan_input", "plan_sections", "planned_matrix"]

PLAN_FILE = "plan.json"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a sweep's run directory or run.json (swept with size_ladder = true to size "
                                    "larger tasks)")
    parser.add_argument("--machines", required=True, metavar="CATALOG",
                        help="a TOML catalog of machine types (name, cores, memory, price_per_hour); 'example' is "
                             "the shipped one, with example prices to replace")
    parser.add_argument("--input", required=True, metavar="SIZE",
                        help="the input the job will read, e.g. 500GiB, or a multiple of the swept input, e.g. 10x")
    parser.add_argument("--task-size", metavar="SIZE",
                        help="cut the input into tasks of this size (default: the swept tasks grow with the input)")
    parser.add_argument("--deadline", metavar="DURATION",
                        help="finish within this time, e.g. 2h or 90m: as many machines as that needs (default 1)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help=f"share of each machine's RAM kept in reserve (default {DEFAULT_MARGIN})")
    parser.add_argument("--workload", action="append", metavar="NAME", help="plan only this workload (repeatable)")
    scheduler_options(parser)  # default: the swept graph's tasks, scaled as the input, if a ladder is beside the run
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")


def plan_input(given: str, task_size: str | None, deadline: str | None) -> PlanInput:
    """``--input`` (a size, or ``10x`` the swept input), ``--task-size`` and ``--deadline``."""
    text = given.strip()
    if text.lower().endswith(("x", "×")):
        try:
            factor = float(text[:-1])
        except ValueError:
            raise UserError(f"--input: {given!r} is neither a size (500GiB) nor a multiple (10x)") from None
        if not (factor > 0 and factor != float("inf")):  # NaN fails this too
            raise UserError(f"--input: the multiple must be a finite number greater than 0, got {given!r}")
        size, multiple = None, factor
    else:
        size, multiple = parse_size(text, "--input"), None
    return PlanInput(input_bytes=size, factor=multiple,
                     task_bytes=None if task_size is None else parse_size(task_size, "--task-size"),
                     deadline_s=None if deadline is None else parse_duration(deadline, "--deadline"))


def make_plan(args: argparse.Namespace) -> tuple[Path, SweepRecord, RolloutPlan]:
    """The plan ``memreplay plan`` would print for ``args``: its run directory, the run's record
    and the plan, computed, not saved."""
    from memreplay.analysis.rollout import plan_rollout
    from memreplay.kinds.sweep_figures import task_rows_by_workload
    from memreplay.plan.distributed_config import kill_fraction
    from memreplay.plan.machine_catalog import load_catalog
    from memreplay.plan.packaged import example_catalog
    from memreplay.records.store import load_record, run_directory

    wanted = plan_input(args.input, args.task_size, args.deadline)  # every option checked before any file is read
    if not 0 <= args.margin < 1:  # NaN fails this too
        raise UserError(f"--margin must be in [0, 1), got {args.margin}")
    tasks, given = getattr(args, "tasks", None), getattr(args, "scheduler_ladder", None)
    check_tasks_option(tasks)
    catalog = load_catalog(example_catalog() if args.machines == "example" else args.machines)
    run = run_directory(args.run)
    record = load_record(args.run, SweepRecord)
    ladder = scheduler_ladder_option(run, given, required=tasks is not None)
    rows = task_rows_by_workload(run, record)
    plan = plan_rollout(record, rows, catalog, wanted, kill_fraction(), args.margin, args.workload)
    if ladder is not None:
        place_schedulers(plan, ladder[0], str(ladder[1]), catalog, record, tasks)
    return run, record, plan


def _call(args: argparse.Namespace) -> Said:
    from memreplay.plan.distributed_config import kill_fraction

    run, record, plan = make_plan(args)
    written = save_plan(run, plan, record)
    from memreplay.kinds import ReportContext, write_report
    from memreplay.report.text import sections_text

    try:  # the report shows the plan just saved, with --json too
        report = f"report: {write_report(run, record, ReportContext(kill_fraction=kill_fraction()))}"
    except Exception as error:  # the plan is saved whatever happens to the page
        report = f"report: not written ({str(error).splitlines()[0] if str(error) else type(error).__name__})"
    code = 0 if any(w.chosen for w in plan.workloads.values()) else 1  # 1: no workload has a machine that fits
    if args.json:
        return Said(msgspec.json.format(msgspec.json.encode(plan)).decode(), code)
    files = ", ".join(str(path) for path in written)
    return Said(f"{sections_text(plan_sections(plan))}\n\nplan: {files}\n{report}", code)


def save_plan(run: Path, plan: RolloutPlan, record: object) -> list[Path]:
    """``RUN/plan.json`` and ``RUN/plan-WORKLOAD.toml`` for each workload with a plan, atomically;
    a run directory that cannot be written is one line."""
    from memreplay.records.atomic import atomic_write_bytes, atomic_write_text
    from memreplay.workloads.workload import name_slug

    written = [run / PLAN_FILE]
    try:
        atomic_write_bytes(run / PLAN_FILE, msgspec.json.format(msgspec.json.encode(plan)))
        for stale in run.glob("plan-*.toml"):  # an earlier plan's choices, which this one may not make
            stale.unlink()
        for workload in plan.workloads.values():
            if (text := planned_matrix(plan, workload, record)) is not None:
                path = run / f"plan-{name_slug(workload.workload)}.toml"
                atomic_write_text(path, text)
                written.append(path)
    except OSError as error:
        raise UserError(f"{run}: the plan cannot be written there: {error.strerror or error}") from None
    return written


def load_plan(run: Path) -> RolloutPlan | str | None:
    """The plan ``memreplay plan`` saved beside a run (None: none; a string: why it is not read)."""
    path = run / PLAN_FILE
    if not path.exists():
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=RolloutPlan)
    except (OSError, msgspec.DecodeError) as error:
        return f"{path} is not read ({error}); memreplay plan writes it again"


def planned_matrix(plan: RolloutPlan, workload: WorkloadPlan, record: object) -> str | None:
    """The chosen machine's shape as a matrix of one case, at the swept scale."""
    chosen = next((m for m in workload.machines if m.machine == workload.chosen), None)
    if chosen is None or chosen.memory_limit_bytes is None or not isinstance(record, SweepRecord):
        return None
    matrix = record.settings.matrix
    if workload.workload.startswith("replay:"):
        scaled = "# The trace's path is as the sweep was given it: run this from the directory the sweep ran in."
    elif plan.task_bytes is None and workload.prefix is not None:
        scaled = (f"# scale = {matrix.scale * workload.scale_factor:.6g} gives the planned task sizes (it needs a "
                  "machine as large as the planned one).")
    else:
        scaled = "# The planned tasks are cut to --task-size; the corpus at this scale keeps its own."
    return "\n".join([
        f"# memreplay plan: {workload.workload} on {chosen.machines} × {chosen.machine} "
        f"({chosen.cores} cores, {compact_bytes(chosen.memory_bytes)}), for {_input_said(plan)}.",
        "# One machine's shape, at the swept scale: `memreplay sweep THIS_FILE` checks it in minutes.",
        scaled,
        "[matrix]",
        f"workloads = [{_toml_string(workload.workload)}]",
        f"shapes = [[{chosen.n_workers}, {chosen.threads_per_worker}]]",
        f'memory_limits = ["{compact_bytes(chosen.memory_limit_bytes)}"]',
        "processes = [true]",
        f"scale = {matrix.scale:g}",
        "repeats = 1",
        f"timeout_s = {matrix.timeout_s or 600:g}",
        "fil_profiles = false",
        "size_ladder = false",
        "",
    ])


def _toml_string(text: str) -> str:
    return msgspec.json.encode(text).decode()  # a JSON string is a TOML basic string


def _input_said(plan: RolloutPlan) -> str:
    said = (f"{format_bytes(plan.input_bytes)} of input" if plan.input_bytes is not None else
            f"{plan.factor:g}× the swept input")
    if plan.task_bytes is not None:
        said += f" in tasks of {format_bytes(plan.task_bytes)}"
    return said + (f", within {duration_text(plan.deadline_s)}" if plan.deadline_s is not None else "")


def _money(value: float | None, currency: str) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1 or value == 0:
        return f"{value:,.2f} {currency}"
    return f"{value:.{1 - math.floor(math.log10(abs(value)))}f} {currency}"  # two significant digits, no exponent


def _ranged(value: float | None, span: tuple[float, float] | None, text: Callable[[float], str]) -> str:
    """``3.1 s (2.8–3.6)``: the value, and its range in the same unit."""
    if value is None:
        return "-"
    if span is None:
        return text(value)
    shown = text(value)
    unit = shown.rsplit(" ", 1)[-1] if " " in shown else ""
    number = (lambda v: text(v).removesuffix(" " + unit)) if unit and all(
        text(v).endswith(" " + unit) for v in span) else text
    return f"{shown} ({number(span[0])}–{number(span[1])})"


def _row(machine: MachinePlan, currency: str) -> tuple[object, ...]:
    return (
        "no fit" if machine.rank is None else f"{machine.rank}{' *' if machine.pareto else ''}",
        f"{machine.machine} {machine.cores}c/{compact_bytes(machine.memory_bytes)}", f"{machine.price_per_hour:g}",
        f"{machine.n_workers}x{machine.threads_per_worker} {format_bytes(machine.memory_limit_bytes or 0)}"
        if machine.n_workers else "-",
        "-" if machine.idle_core_share is None else f"{machine.idle_core_share:.0%}",
        duration_text(machine.time_per_task_s), "-" if machine.machines is None else machine.machines,
        _ranged(machine.total_time_s, machine.total_time_range_s, duration_text),
        _money(machine.cost, currency).removesuffix(f" {currency}"),
        "-" if machine.spills is None else _short_bytes(machine.spilled_per_worker_bytes or 0) if machine.spills
        else "no",
    )


def _short_bytes(value: int) -> str:
    """``178 MiB``, ``1.0 GiB``: a column that must stay narrow."""
    return f"{value / 2**30:,.1f} GiB" if value >= 2**30 else f"{value / 2**20:,.0f} MiB"


def _headers(currency: str) -> tuple[str, ...]:
    return ("rank", "machine", f"{currency}/h", "use", "idle", "per task", "machines", "total time",
            f"cost {currency}", "spills")


def _workload_blocks(plan: RolloutPlan, workload: WorkloadPlan) -> list:
    if workload.reason:
        return [Text(f"{workload.workload}: no plan: {workload.reason}")]
    chosen = next((m for m in workload.machines if m.machine == workload.chosen), None)
    tasks = (f"{workload.tasks:,} tasks" + (f" of {workload.prefix}" if workload.prefix else "")
             + (f", the largest {format_bytes(workload.largest_task_input_bytes)} of input"
                if workload.largest_task_input_bytes else ""))
    if chosen is not None:
        answer = (f"{workload.workload}: {chosen.machines} × {chosen.machine}, each {chosen.n_workers} worker(s) × "
                  f"{chosen.threads_per_worker} thread(s) at {format_bytes(chosen.memory_limit_bytes or 0)}; "
                  f"{duration_text(chosen.total_time_s)} and {_money(chosen.cost, plan.currency)} for {tasks}"
                  + (f"; {chosen.idle_core_share:.0%} of its cores idle ({chosen.idle_reason})"
                     if chosen.idle_core_share else ""))
    else:
        answer = f"{workload.workload}: no machine type of the catalog fits ({tasks})"
    styles = ["good" if m.machine == workload.chosen else "" if m.fits else "flag" for m in workload.machines]
    blocks: list = [Text(answer), Table(_headers(plan.currency), [_row(m, plan.currency) for m in workload.machines],
                                        numeric=(2, 4, 6, 8), row_styles=styles)]
    said = ([f"{m.machine}: {m.note}" for m in workload.machines if m.fits and m.note]
            + [f"{m.machine} does not fit: {m.reason}" for m in workload.machines if not m.fits])
    if said:
        blocks.append(Items(said))
    naive = workload.naive
    if naive is not None:
        if naive.same_as_plan:
            said = f"One task per core (the machine cheapest per core that runs it) would pick {naive.machine} too."
        else:
            idle = ("" if naive.idle_core_share is None or chosen is None or chosen.idle_core_share is None
                    or round(naive.idle_core_share, 2) == round(chosen.idle_core_share, 2) else
                    f", and {naive.idle_core_share:.0%} of its cores idle against {chosen.idle_core_share:.0%}")
            saving = ("" if naive.saving is None or naive.saving_percent is None else
                      f" The plan costs about the same as its {_money(naive.cost, plan.currency)}{idle}."
                      if abs(naive.saving_percent) < 0.5 else
                      f" The plan costs {_money(naive.saving, plan.currency)} ({naive.saving_percent:.0f} %) less than "
                      f"its {_money(naive.cost, plan.currency)}{idle}."
                      if naive.saving > 0 else
                      f" The plan costs {_money(-naive.saving, plan.currency)} more than its "
                      f"{_money(naive.cost, plan.currency)}, for a machine that is faster{idle}.")
            said = (f"One task per core would pick {naive.machine}, the cheapest per core that runs it: "
                    f"{naive.outcome}.{saving}")
        blocks.append(Text(said))
    calibrated = [f"modelled: time per task on {m.machine}: the line {m.calibration}"
                  for m in workload.machines if m.calibration and m.machine == workload.chosen]
    blocks.append(Items([f"measured: {line}" for line in workload.measured]
                        + [f"modelled: {line}" for line in workload.modelled] + calibrated))
    if workload.scheduler:
        blocks.append(Items([f"its scheduler ({workload.scheduler_tasks_from}), {limit_text(placed.limit)}: "
                             + (f"{placed.machine} holds it, {_money(placed.price_per_hour, plan.currency)} an hour"
                                if placed.machine else "no machine type of the catalog holds it")
                             for placed in workload.scheduler]
                            + [f"scheduler limits from the ladder {workload.scheduler[0].limit.ladder}"]))
    return blocks


def plan_sections(plan: RolloutPlan, plots: bool = False) -> list[Section]:
    """The plan, workload by workload: the answer, the table ranked by cost, the naive choice, and
    what is measured and what modelled; with ``plots``, cost against time per workload."""
    from memreplay.report.plots import plan_plot

    prices = (f"Prices from {plan.catalog}" + (f", taken {plan.prices_taken}" if plan.prices_taken else "")
              + (f": {plan.catalog_note}" if plan.catalog_note else "") + ".")
    blocks: list = [Text(f"For {_input_said(plan)}; {plan.margin:.0%} of each machine's RAM kept in reserve; "
                         f"a nanny kills a worker at {plan.kill_fraction:.0%} of its limit. {prices}")]
    figures = []
    for workload in plan.workloads.values():
        blocks += _workload_blocks(plan, workload)
        fitting = [m for m in workload.machines if m.fits and m.total_time_s is not None and m.cost is not None]
        if plots and fitting:
            figures.append(plan_plot(f"{workload.workload}: cost against total time", [m.machine for m in fitting],
                                     [m.total_time_s or 0 for m in fitting], [m.cost or 0 for m in fitting],
                                     [m.pareto for m in fitting], plan.currency, workload.chosen))
    if figures:
        blocks.append(Plots(figures))
    blocks.append(Text("memreplay plan RUN --machines CATALOG --input SIZE [--deadline 2h] plans again; "
                       "plan-WORKLOAD.toml beside the run checks the chosen shape with memreplay sweep.", note=True))
    return [Section("Rollout plan", blocks)]


COMMAND = Command("plan", "Which cluster shape, on which machine?",
                  "which machine types, how many, how long and at what cost, for an input larger than the swept",
                  _configure, _call, starts_processes=False)
