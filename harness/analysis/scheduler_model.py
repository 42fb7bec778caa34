"""The scheduler's memory as a function of the graph it holds: a line per shape and scheduler
preset in the graph's task count (fitted on a scheduler with no workers, the largest graph held
out), plus what the bounded logs hold once tasks run (bytes per entry times the entries their
length settings allow). Together: the memory limit to give a scheduler for a graph of N tasks."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence

import msgspec
from dask.utils import format_bytes

from memreplay.analysis.model import GOAL_PERCENT as MODEL_GOAL_PERCENT
from memreplay.analysis.model import held_out_line
from memreplay.records.schema import (
    ExecutedCheck,
    GraphModel,
    GraphPoint,
    HeldOutTasks,
    LogPart,
    SchedulerLadder,
    SchedulerScenario,
)

__all__ = ["GOAL_PERCENT", "SchedulerLimit", "analyse_ladder", "calibrate", "fit_graph_models", "log_parts",
           "logs_bytes", "limit_text", "predict_graph", "running_bytes", "scheduler_limit", "scheduler_limits"]

GOAL_PERCENT = MODEL_GOAL_PERCENT  # the held-out graph and the executed one, predicted within this


def fit_graph_models(points: Sequence[GraphPoint]) -> list[GraphModel]:
    """One model per (preset, shape) with at least three distinct task counts, in the order the
    points came: graph bytes ≈ intercept + per task × tasks, the largest graph held out."""
    groups: dict[tuple[str, str], list[GraphPoint]] = {}
    for point in points:
        groups.setdefault((point.preset, point.shape), []).append(point)
    models = []
    for (preset, shape), group in groups.items():
        line = held_out_line([(point.tasks, float(point.graph_bytes)) for point in group])
        if line is None:
            continue
        models.append(GraphModel(
            preset=preset, shape=shape, points=line.points, bytes_per_task=line.slope,
            intercept_bytes=int(line.intercept), residual_std_bytes=int(line.residual_std),
            base_rss_bytes=int(statistics.median(point.rss_before_bytes for point in group)),
            heldout=HeldOutTasks(tasks=line.heldout_input, predicted_bytes=int(line.predicted),
                                 measured_bytes=int(line.measured), error_percent=line.error_percent)))
    return models


def log_parts(scenario: SchedulerScenario) -> list[LogPart]:
    """Each bounded log of a scenario that executed tasks: bytes per entry, entries per
    transition, and the bytes its capacity allows."""
    parts = []
    for name, size in sorted(scenario.structures.items()):
        per_entry = size.bytes / size.entries if size.entries else None
        parts.append(LogPart(
            structure=name, bytes_per_entry=per_entry,
            entries_per_transition=size.entries / scenario.transitions if scenario.transitions else 0.0,
            capacity=size.capacity, full=size.capacity is not None and size.entries >= size.capacity,
            bound_bytes=None if per_entry is None or size.capacity is None else round(per_entry * size.capacity)))
    return parts


def logs_bytes(logs: Iterable[LogPart], transitions: float, full: bool = False) -> int:
    """What the logs hold after ``transitions`` transitions: each log's entries per transition
    times the transitions, at most its capacity (a log that was full when measured, full: its
    rate is only a lower bound); ``full``: every bounded log at its capacity, as a long job leaves
    them (an unbounded one still at its entries per transition)."""
    total = 0.0
    for part in logs:
        if part.bytes_per_entry is None:
            continue
        entries = part.entries_per_transition * transitions
        if part.capacity is not None:
            entries = part.capacity if full or part.full else min(entries, part.capacity)
        total += part.bytes_per_entry * entries
    return round(total)


def predict_graph(model: GraphModel, tasks: int) -> int:
    """The bytes a graph of ``tasks`` tasks adds to a scheduler that holds it (never below zero)."""
    return max(0, round(model.intercept_bytes + model.bytes_per_task * tasks))


def running_bytes(model: GraphModel, logs: Iterable[LogPart], tasks: int, full_logs: bool = False) -> int:
    """What a graph of ``tasks`` tasks adds to its scheduler while it runs on workers: the graph
    held, what running adds per task, and the logs (after its transitions, or ``full_logs``)."""
    transitions = (model.transitions_per_task or 0.0) * tasks
    return (predict_graph(model, tasks) + round((model.running_bytes_per_task or 0.0) * tasks)
            + logs_bytes(logs, transitions, full_logs))


def calibrate(model: GraphModel, logs: Iterable[LogPart], tasks: int, transitions: int, rss_start: int,
              peak: int) -> GraphModel:
    """The model with what running adds per task and the transitions per task, from one graph of
    ``tasks`` tasks run on workers: its peak less its start, the graph held and the logs."""
    logs = list(logs)
    per_transition = transitions / tasks
    held = predict_graph(model, tasks) + logs_bytes(logs, transitions)
    return msgspec.structs.replace(model, running_bytes_per_task=max(0.0, (peak - rss_start - held) / tasks),
                                   transitions_per_task=per_transition)


def analyse_ladder(points: Sequence[GraphPoint], executed: Sequence[ExecutedCheck],
                   scenarios: Mapping[str, SchedulerScenario]) -> SchedulerLadder:
    """The ladder from what was measured: the models fitted on the graphs held, each calibrated
    on its shape's graph run on workers (role "calibration"), the logs' parts from each preset's
    executed scenario, and each checked run's prediction and error (role "check")."""
    logs = {preset: log_parts(scenario) for preset, scenario in scenarios.items()
            if any(point.preset == preset for point in points)}
    models = {(model.preset, model.shape): model for model in fit_graph_models(points)}
    for run in executed:
        if run.role == "calibration" and (run.preset, run.shape) in models:
            models[run.preset, run.shape] = calibrate(models[run.preset, run.shape], logs.get(run.preset, []),
                                                      run.tasks, run.transitions, run.rss_start_bytes, run.peak_bytes)
    checked = []
    for run in executed:
        model = models.get((run.preset, run.shape))
        predicted = None
        if run.role == "check" and model is not None and model.running_bytes_per_task is not None:
            predicted = run.rss_start_bytes + running_bytes(model, logs.get(run.preset, []), run.tasks)
        checked.append(msgspec.structs.replace(
            run, predicted_bytes=predicted,
            error_percent=None if predicted is None or not run.peak_bytes
            else round(100 * (predicted - run.peak_bytes) / run.peak_bytes, 1)))
    return SchedulerLadder(points=list(points), models=list(models.values()), logs=logs, executed=checked)


class SchedulerLimit(msgspec.Struct, kw_only=True):
    """The memory limit for a scheduler that runs a graph of ``tasks`` tasks under ``preset``:
    the largest prediction of any measured shape, its logs full."""

    preset: str
    tasks: int
    limit_bytes: int
    shape: str  # the shape that needs the most
    heldout_error_percent: float | None  # that shape's held-out error (the graph held)
    executed_error_percent: float | None  # its prediction against the largest graph run, if run
    largest_measured_tasks: int

    ladder: str  # the run directory of the ladder it comes from ("" in process)

    @property
    def extrapolated(self) -> bool:
        return self.tasks > self.largest_measured_tasks


def scheduler_limit(ladder: SchedulerLadder, tasks: int, preset: str = "default",
                    source: str = "") -> SchedulerLimit | None:
    """The scheduler's limit for ``tasks`` tasks under ``preset``: a scheduler with workers, as the
    ladder's runs started, plus the most any shape's graph adds while it runs with its logs full.
    None without a calibrated model for that preset."""
    models = [model for model in ladder.models if model.preset == preset and model.running_bytes_per_task is not None]
    starts = [check.rss_start_bytes for check in ladder.executed if check.preset == preset]
    if not models or not starts:
        return None
    logs = ladder.logs.get(preset, [])
    need = {model.shape: running_bytes(model, logs, tasks, full_logs=True) for model in models}
    shape = max(need, key=need.__getitem__)
    model = next(model for model in models if model.shape == shape)
    checked = [check.error_percent for check in ladder.executed
               if check.preset == preset and check.shape == shape and check.role == "check"]
    return SchedulerLimit(preset=preset, tasks=tasks, limit_bytes=round(statistics.median(starts)) + need[shape],
                          shape=shape, heldout_error_percent=model.heldout.error_percent,
                          executed_error_percent=checked[-1] if checked else None,
                          largest_measured_tasks=max(point.tasks for point in ladder.points if point.preset == preset),
                          ladder=source)


def scheduler_limits(ladder: SchedulerLadder, tasks: int, source: str = "") -> list[SchedulerLimit]:
    """The limit under every preset the ladder measured."""
    presets = dict.fromkeys(model.preset for model in ladder.models)
    return [limit for preset in presets if (limit := scheduler_limit(ladder, tasks, preset, source)) is not None]


def limit_text(limit: SchedulerLimit) -> str:
    """One line: the limit, what it rests on, and how far it reaches beyond what was measured."""
    reach = (f"{limit.tasks / limit.largest_measured_tasks:,.1f}x the largest graph measured "
             f"({limit.largest_measured_tasks:,} tasks)" if limit.extrapolated
             else f"within the graphs measured (up to {limit.largest_measured_tasks:,} tasks)")
    executed = ("" if limit.executed_error_percent is None
                else f", run on workers {limit.executed_error_percent:+.1f} %")
    held = "-" if limit.heldout_error_percent is None else f"{limit.heldout_error_percent:+.1f} %"
    return (f"under preset {limit.preset}: {format_bytes(limit.limit_bytes)} for {limit.tasks:,} tasks "
            f"(its {limit.shape} graph needs the most, logs full; held-out error {held}{executed}; {reach})")
