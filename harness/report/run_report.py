"""``report.html`` of a run: the sections its record has data for, answer first.

A sweep: the answer (outcomes and the recommendation), configuration heat maps, per-prefix
peak distributions, peak against input size with the fitted model, the recommendation in
full, Fil profiles, memory timelines, every case, the environment. A profile run: its
profiles. A scheduler study: its structures default against trimmed and the scheduler's RSS.
A probe-accuracy run: the probes against the ground truth. Case files are found beside the
record, so a run directory that was moved or sent to a colleague still reports.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

from dask.utils import format_bytes

from harness.analysis.benchmark_figures import figures_of_case
from harness.analysis.model import heldout_error_text
from harness.analysis.probe_accuracy import DURATION_BUCKETS, paired_ratios, summarise_accuracy
from harness.analysis.recommend import DEFAULT_MARGIN, Recommendation, recommend
from harness.analysis.scheduler_footprint import trimming_savings
from harness.analysis.task_summary import largest_by_prefix
from harness.errors import UserError
from harness.plan.sizes import compact_bytes
from harness.records.schema import (
    CaseResult,
    Environment,
    ProbeAccuracyRecord,
    ProfileRecord,
    Record,
    SchedulerRecord,
    SizeLadder,
    SizeRecord,
    SweepRecord,
    TaskProfile,
)
from harness.records.store import run_directory
from harness.records.task_rows import MIB, TaskRow, iter_task_rows, parse_task_key
from harness.records.timeline_samples import read_timeline
from harness.report.html_page import Block, Heading, Items, Picture, Plots, Section, Table, Text, write_page
from harness.report.plots import (
    NARROW,
    HeatCell,
    TaskPoint,
    heat_map,
    model_plot,
    peak_distribution,
    probe_accuracy_plot,
    structures_plot,
    timeline_plot,
)
from harness.report.terminal import HOLDING_PERCENT, RSS_GROWTH_FLOOR, cluster_lines
from harness.report.units import mib_text, signed_bytes

__all__ = ["REPORT_NAME", "Machine", "write_run_report"]

REPORT_NAME = "report.html"
Machine = tuple[int, int]  # cores, bytes of RAM


def _beside(run: Path, recorded: str) -> Path:
    """A directory the record names, found inside the run directory it is read from (a run that
    was moved, copied or renamed: the longest tail of the recorded path that exists there), else
    where it was when the run was made."""
    parts = Path(recorded).parts
    for start in range(1, len(parts)):
        inside = run.joinpath(*parts[start:])
        if inside.is_dir() and inside != run:
            return inside
    return Path(recorded)


def _case_directory(run: Path, case: CaseResult) -> Path:
    return _beside(run, case.directory)


def _task_rows(run: Path, case: CaseResult) -> Iterator[TaskRow]:
    """The case's rows; a tasks.csv the record names but the run lacks is one line, not a gap."""
    if case.task_memory is not None:
        path = _case_directory(run, case) / case.task_memory.csv
        if not path.is_file():
            raise UserError(f"{path}: missing, though the record of case {case.id} names it "
                            f"({case.task_memory.rows} rows); was the run copied in part?")
        yield from iter_task_rows(path)


# --- sweep ------------------------------------------------------------------------------------


def _answer(record: SweepRecord, advice: Recommendation, machine_said: str) -> Section:
    outcomes = defaultdict(int)
    for case in record.cases:
        outcomes[case.outcome] += 1
    words = {"ok": "ok", "oom": "out of memory", "timeout": "timed out", "error": "failed"}
    counted = ", ".join(f"{n} {words[o]}" for o, n in sorted(outcomes.items(), key=lambda item: item[0] != "ok"))
    items = [f"{len(record.cases)} case{'s' * (len(record.cases) != 1)}: {counted or 'none finished'}."]
    for workload, a in advice.workloads.items():
        if a.tasks_at_once:
            line = (f"{workload}: on {machine_said}, run {a.n_workers} worker{'s' * (a.n_workers != 1)} × "
                    f"{a.threads_per_worker} thread{'s' * (a.threads_per_worker != 1)} with "
                    f"{format_bytes(a.memory_limit or 0)} each ({a.tasks_at_once} tasks at once; its largest task "
                    f"needs {format_bytes(a.largest_peak_increase_bytes or 0)}).")
        else:
            line = f"{workload}: no safe configuration on {machine_said}: {a.reason}."
        if a.cheapest:
            line += f" Cheapest measured: {a.cheapest.shape} at {a.cheapest.memory_limit}."
        if a.oom_cases:
            line += f" Out of memory in {len(a.oom_cases)} case{'s' * (len(a.oom_cases) != 1)}."
        items.append(line)
    return Section("The answer", [Items(items)], style="answer")


def _heat_maps(record: SweepRecord) -> Section | None:
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
        Plots(figures)])


def _task_rows_by_workload(run: Path, record: SweepRecord) -> dict[str, list[tuple[TaskRow, str]]]:
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


def _distributions(rows: dict[str, list[tuple[TaskRow, str]]]) -> Section | None:
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
    return Section("Peak increase per task", [
        Text("Every task of every case that finished, by prefix (the function the user wrote). Blue: the task "
             "ran alone in its worker, so its peak increase is its own; orange: other tasks ran beside it, so it "
             "may hold theirs too. Hover for the task.", note=True),
        Plots([peak_distribution(workload, [_point(*m) for m in measured]) for workload, measured in rows.items()]),
        Table(("workload", "prefix", "largest task", "peak increase", "input", "ran", "worker", "case"), table,
              caption="The largest task of each prefix (alone in its worker where any was)", numeric=(3, 4),
              code=(2,))])


def _model(record: SweepRecord, rows: dict[str, list[tuple[TaskRow, str]]]) -> Section | None:
    model = record.summary.model
    if not model:
        return None
    by_prefix: dict[str, list[TaskPoint]] = defaultdict(list)
    for measured in rows.values():
        for row, case in measured:
            if row.alone and row.input_bytes:
                by_prefix[row.task_prefix].append(_point(row, case))
    figures, table = [], []
    for prefix, m in sorted(model.items()):
        held = m.heldout
        error = "-" if held.error_percent is None else f"{held.error_percent:+.1f} %"
        used = [p for p in by_prefix[prefix] if parse_task_key(p.key)[0] == m.group]
        figures.append(model_plot(f"{prefix}: held-out error {error}", used or by_prefix[prefix], m.slope,
                                  m.intercept_bytes, (held.input_bytes, held.predicted_bytes, held.measured_bytes)))
        table.append((prefix, m.points, f"{m.slope:.2f}", signed_bytes(m.intercept_bytes), mib_text(held.input_bytes),
                      mib_text(held.predicted_bytes), mib_text(held.measured_bytes), error))
    ladders = ("" if not record.summary.ladders else
               " The size ladder above is the model memreplay sizes with: here each worker's earlier tasks leave "
               "the allocator holding memory that a small task reuses, so small inputs grow RSS less than alone.")
    return Section("Peak versus input size, in the sweep's tasks", [
        Text("Peak increase ≈ intercept + slope × input, fitted per prefix on tasks that ran alone. Held out: "
             "the largest input, predicted from the others (red cross) and measured (green circle)." + ladders,
             note=True),
        Table(("task prefix", "tasks", "bytes per input byte", "intercept", "held-out input", "predicted",
               "measured", "error"), table, numeric=(1, 2, 3, 4, 5, 6, 7)),
        Plots(figures)])


def _ladders(ladders: Sequence[SizeLadder]) -> Section | None:
    if not ladders:
        return None
    figures, table = [], []
    for ladder in ladders:
        model = ladder.model
        goal = "-" if ladder.meets_goal is None else "within goal" if ladder.meets_goal else "misses goal"
        if ladder.reason:
            goal += f"; {ladder.outcome}: {ladder.reason}"
        table.append((ladder.workload, ladder.prefix, ladder.source, len(ladder.rungs), ladder.repeats,
                      "-" if model is None else f"{model.slope:.2f}",
                      "-" if model is None else signed_bytes(model.intercept_bytes),
                      "-" if model is None else mib_text(model.heldout.predicted_bytes),
                      "-" if model is None else mib_text(model.heldout.measured_bytes),
                      heldout_error_text(ladder), goal))
        if model is None:
            continue
        points = [TaskPoint(key=f"{rung.fraction:g} of {ladder.source}, repeat {repeat + 1}", prefix=ladder.prefix,
                            peak_increase_bytes=peak, input_bytes=rung.input_bytes, worker="a fresh process",
                            case=ladder.workload, alone=True)
                  for rung in ladder.rungs for repeat, peak in enumerate(rung.peak_increase_bytes)]
        held = model.heldout
        figures.append(model_plot(f"{ladder.workload}: held-out error {heldout_error_text(ladder)}", points,
                                  model.slope, model.intercept_bytes,
                                  (held.input_bytes, held.predicted_bytes, held.measured_bytes),
                                  points_label="one measurement, alone in a fresh process"))
    return Section("Size ladder: peak increase versus input size", [
        Text("Each task function alone, in a fresh process for every measurement, on leading cuts (1/16, 1/8, 1/4, "
             "1/2, all) of the corpus' largest file, measured with the exact meter. The line is fitted on every "
             "measurement; held out, the largest input is predicted from the smaller ones (red cross) and measured "
             "(green circle). Goal: within 10 % for a prefix whose memory grows with its input, within ±2 MiB for "
             "one whose peak increase does not grow (its error is then given in MiB). In brackets: each repeat's "
             "own held-out error. memreplay recommend --input-size sizes larger inputs with this line.", note=True),
        Table(("workload", "task prefix", "cut from", "sizes", "repeats", "bytes per input byte", "intercept",
               "predicted", "measured", "held-out error", "goal"), table, numeric=(3, 4, 5, 6, 7, 8)),
        Plots(figures)])


def _schedulers(record: SweepRecord) -> Section | None:
    measured = [case for case in record.cases if case.scheduler is not None]
    if not measured:
        return None
    rows = []
    for case in measured:
        s = case.scheduler
        assert s is not None
        rows.append((case.id, s.profile, mib_text(s.rss_start_bytes), mib_text(s.rss_peak_bytes),
                     mib_text(s.rss_end_bytes), f"{s.transitions:,}",
                     f"{sum(size.entries for size in s.structures.values()):,}",
                     mib_text(sum(size.bytes for size in s.structures.values()))))
    blocks: list[Block] = [
        Text("Every case's scheduler runs in a process of its own (dask scheduler), under the case's scheduler "
             "profile (configs/scheduler/NAME.toml), so these figures are the scheduler's alone. Peak: during the "
             "case (reset when it starts) where Linux allows, else since the scheduler started. Structures: the "
             "bounded logs it keeps (transition log, events, task stream, ...), entries and deep size after the "
             "case.", note=True),
        Table(("case", "profile", "RSS at start", "peak", "at end", "transitions", "structure entries",
               "structure bytes"), rows, numeric=(2, 3, 4, 5, 6, 7))]
    savings = trimming_savings(record.cases)
    if savings:
        blocks += [
            Table(("workload", "configuration", "profile", "peak (default)", "peak (profile)", "peak saving",
                   "end saving", "structures saving", "entries saving"),
                  [(s.workload, s.configuration, s.profile, mib_text(s.peak_default_bytes),
                    mib_text(s.peak_other_bytes), signed_bytes(s.peak_saving_bytes), signed_bytes(s.end_saving_bytes),
                    signed_bytes(s.structures_saving_bytes), f"{s.entries_saving:+,}") for s in savings],
                  caption="What each profile saves against the default, per configuration (positive: less memory)",
                  numeric=(3, 4, 5, 6, 7, 8)),
            Plots([structures_plot("Scheduler peak RSS per configuration",
                                   [f"{s.workload} {s.configuration}" for s in savings],
                                   [s.peak_default_bytes for s in savings], [s.peak_other_bytes for s in savings],
                                   measure="scheduler peak RSS", profiles=("default", savings[0].profile))])]
    return Section("The scheduler in each case", blocks)


def _fidelity(record: SweepRecord) -> Section | None:
    replayed = [case for case in record.cases if case.fidelity is not None]
    if not replayed:
        return None

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "ok" if ok else "missed"

    rows, styles = [], []
    for case in replayed:
        f = case.fidelity
        assert f is not None
        rows.append((case.id, f"{f.within_tolerance}/{f.compared} (of {f.tasks})", mib_text(f.worst_error_bytes),
                     verdict(f.peaks_ok),
                     "-" if f.span_replay_s is None else f"{f.span_replay_s:.2f} s", f"{f.span_trace_s:.2f} s",
                     "-" if f.span_error_percent is None else f"{f.span_error_percent:+.1f} %",
                     verdict(f.span_ok), f"{f.outcome_replay} / {f.outcome_trace}", verdict(f.outcome_ok)))
        styles.append("" if f.peaks_ok is not False and f.span_ok is not False and f.outcome_ok else "flag")
    return Section("Replay fidelity", [
        Text("Each replay (replay:TRACE) against its recording. Peaks: of the tasks that ran alone in their worker "
             "in the replay (with neighbours, a peak increase holds theirs too), those whose replayed peak increase "
             "is within the probe's accuracy, max(1 MiB, 1 %), of the recorded one, plus the bytes that arrived "
             "from other workers while it ran in either run (goal: 95 %). Span: first task's start to "
             "last task's stop, compared only on the configuration the trace was recorded on (goal ±15 %). "
             "Outcome: out of memory in both or in neither.", note=True),
        Table(("case", "peaks within", "worst error", "peaks", "span", "recorded span", "span error", "span",
               "outcome (replay / recorded)", "outcome"), rows, numeric=(1, 2, 4, 5, 6), row_styles=styles)])


def _recommendation(advice: Recommendation, machine_said: str) -> Section:
    rows = []
    for workload, a in advice.workloads.items():
        rows.append((workload, "-" if a.largest_peak_increase_bytes is None else
                     format_bytes(a.largest_peak_increase_bytes), a.tasks_at_once,
                     f"{a.n_workers}×{a.threads_per_worker}, {format_bytes(a.memory_limit or 0)} each"
                     if a.tasks_at_once else a.reason or "-",
                     f"{a.fastest.shape} {a.fastest.memory_limit} ({a.fastest.wall_time_s:.1f} s)"
                     if a.fastest and a.fastest.wall_time_s is not None else "-",
                     f"{a.cheapest.shape} {a.cheapest.memory_limit} ({a.cheapest.cost_gib_s:,.0f} GiB·s)"
                     if a.cheapest and a.cheapest.cost_gib_s is not None else "-",
                     ", ".join(a.oom_cases) or "-"))
    footprint = "not measured" if advice.worker_footprint_bytes is None else format_bytes(advice.worker_footprint_bytes)
    return Section("Recommendation", [
        Text(f"For {machine_said}, keeping {advice.margin:.0%} in reserve ({format_bytes(advice.usable_bytes)} "
             f"usable). A worker's own footprint: {footprint}; its nanny kills it at {advice.kill_fraction:.0%} of "
             "its limit. Each limit = (footprint + threads × largest task) / kill fraction, rounded up. "
             "memreplay report RUN --cores C --memory R advises for another machine."),
        Table(("workload", "largest task", "tasks at once", "use", "fastest measured", "cheapest measured",
               "out-of-memory cases"), rows, numeric=(1, 2))])


def _profile_blocks(run: Path, profiles: Sequence[TaskProfile]) -> list:
    blocks: list = []
    for p in profiles:
        blocks.append(Heading(f"{p.workload}: {p.figure} on {p.input} ({format_bytes(p.input_bytes)})"))
        if p.outcome != "ok":
            blocks.append(Text(f"Not profiled ({p.outcome}): {p.reason}"))
            continue
        blocks.append(Text(f"Fil's peak of tracked allocations: {format_bytes(p.peak_tracked_bytes or 0)}."))
        lines = [(f"{Path(t.file).name}:{t.line}", t.function, t.code, format_bytes(t.bytes), f"{t.percent:.1f} %")
                 for t in p.top_lines if t.percent >= HOLDING_PERCENT]
        if lines:
            blocks.append(Table(("where", "function", "source line", "held at the peak", "share"), lines,
                                caption="Lines holding memory at the peak (Fil)", numeric=(3, 4), code=(2,)))
        if p.line_rss:
            growing = sorted((line for line in p.line_rss if line.increment_bytes >= RSS_GROWTH_FLOOR),
                             key=lambda line: line.increment_bytes, reverse=True)[:5]
            blocks.append(Table(("where", "source line", "RSS after", "added"),
                                [(f"{Path(line.file).name}:{line.line}", line.code, format_bytes(line.rss_bytes),
                                  format_bytes(line.increment_bytes)) for line in growing],
                                caption="Lines that grew RSS most (memory_profiler)", numeric=(2, 3), code=(1,)))
        svg = _beside(run, p.directory) / "peak-memory.svg" if p.directory else None
        if svg is not None and svg.exists():
            interactive = svg.parent.resolve() / "index.html"
            blocks.append(Picture(f"Fil's flame graph of {p.workload} at its peak (interactive: {interactive})",
                                  svg.read_bytes()))
    return blocks


def _timelines(run: Path, record: SweepRecord) -> Section | None:
    figures = []
    for case in record.cases:
        if case.timeline is None or not (path := _case_directory(run, case) / case.timeline.csv).exists():
            continue
        series: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([], []))
        for t, process, rss in read_timeline(path):
            series[process][0].append(t)
            series[process][1].append(rss)
        figures.append(timeline_plot(f"{case.id} ({case.outcome})", series, width=NARROW))
    if not figures:
        return None
    return Section("Memory timelines", [
        Text("RSS of every process, sampled every 50 ms; click a legend entry to hide its line. "
             "\"scheduler\" is the case's own scheduler process.", note=True),
        Plots(figures)])


def _cases(record: SweepRecord) -> Section:
    rows, styles = [], []
    for case in record.cases:
        figures = figures_of_case(case) or {}
        rows.append((case.id, case.outcome, "-" if case.wall_time_s is None else f"{case.wall_time_s:.2f} s",
                     "-" if case.cost_gib_s is None else f"{case.cost_gib_s:,.0f}",
                     mib_text(figures.get("largest_peak_increase_bytes")),
                     mib_text(figures.get("worker_peak_rss_bytes")),
                     case.answer_check, (case.error or "") + (f" (executing {case.oom.task})"
                                                              if case.oom and case.oom.task else "")))
        styles.append("" if case.outcome == "ok" else "flag")
    blocks: list = [Table(("case", "outcome", "wall time", "GiB·s", "largest task", "worker peak RSS", "answer",
                           "why not ok"), rows, numeric=(2, 3, 4, 5), row_styles=styles)]
    if record.settings.matrix.cluster.kind != "own":
        blocks.insert(0, Text(f"The cases ran on {record.settings.matrix.cluster.description}; each case's "
                              "scheduler address and workers (shape, host, package versions) are in run.json "
                              "under cases[].cluster.", note=True))
    blocks += [Text(f"Warning: {w}", note=True) for w in cluster_lines(record) if w.startswith("warning: ")]
    return Section("Cases", blocks)


def _environment(environment: Environment, settings: Sequence[tuple[str, object]]) -> Section:
    fields = [(name, getattr(environment, name)) for name in Environment.__struct_fields__]
    shown = [(name, format_bytes(value) if name == "ram_bytes" else value) for name, value in fields]
    return Section("Environment and settings", [Table(("", ""), [*settings, *shown])])


def _sweep_sections(run: Path, record: SweepRecord, machine: Machine | None, kill_fraction: float) -> list[Section]:
    cores, memory = machine or (record.environment.cpu_count or 1, record.environment.ram_bytes)
    machine_said = (f"{cores} cores and {format_bytes(memory)}" +
                    ("" if machine else " (the machine this ran on)"))
    advice = recommend(record, cores, memory, DEFAULT_MARGIN, kill_fraction)
    rows = _task_rows_by_workload(run, record)
    matrix = record.settings.matrix
    sections = [_answer(record, advice, machine_said), _fidelity(record), _heat_maps(record), _distributions(rows),
                _ladders(record.summary.ladders), _model(record, rows), _recommendation(advice, machine_said)]
    if record.summary.profiles:
        sections.append(Section("Fil profiles of the hungriest tasks", _profile_blocks(run, record.summary.profiles)))
    sections += [_schedulers(record), _timelines(run, record), _cases(record),
                 _environment(record.environment, [("matrix", matrix.source), ("cluster", matrix.cluster.description),
                                                   ("scale", matrix.scale),
                                                   ("repeats", matrix.repeats), ("time limit", matrix.timeout_s),
                                                   ("cases planned", len(matrix.cases))])]
    return [s for s in sections if s is not None]


# --- studies ----------------------------------------------------------------------------------


def _scheduler_sections(record: SchedulerRecord) -> list[Section]:
    sections = []
    c = record.comparison
    if c is not None:
        sections.append(Section("The answer", [Items([
            f"Trimming {'saves' if c.rss_saving_bytes >= 0 else 'costs'} {format_bytes(abs(c.rss_saving_bytes))} of "
            f"scheduler RSS ({abs(c.rss_saving_percent)} %), against an A/A noise of "
            f"{format_bytes(c.rss_noise_bytes)}, on distributed {c.distributed}.",
            f"The bounded structures themselves account for {signed_bytes(c.structures_saving_bytes)} of that"
            + ("" if c.reconciled_percent is None else f" ({c.reconciled_percent} %).")])], style="answer"))
        sections.append(Section("Scheduler structures, default versus trimmed", [
            Plots([structures_plot("Deep size of each bounded structure", [r.structure for r in c.rows],
                                   [r.default.bytes for r in c.rows], [r.trimmed.bytes for r in c.rows])]),
            Table(("structure", "entries", "bytes", "trimmed entries", "trimmed bytes", "saving"),
                  [(r.structure, f"{r.default.entries:,}", format_bytes(r.default.bytes), f"{r.trimmed.entries:,}",
                    format_bytes(r.trimmed.bytes), signed_bytes(r.saving_bytes)) for r in c.rows],
                  numeric=(1, 2, 3, 4, 5))]))
    if record.scenarios:
        series = {s.label: ([t for t, _ in s.rss_timeline], [rss for _, rss in s.rss_timeline])
                  for s in record.scenarios}
        sections.append(Section("Scheduler RSS over time", [
            Text(f"{record.settings.transitions:,} transitions, then {record.settings.idle_s:g} s idle, per preset.",
                 note=True), Plots([timeline_plot("Scheduler RSS per preset", series)])]))
    sections.append(_environment(record.environment, [("transitions", record.settings.transitions),
                                                      ("idle s", record.settings.idle_s)]))
    return sections


def _accuracy_sections(record: ProbeAccuracyRecord) -> list[Section]:
    sections = []
    answer = [f"{s.probe}, threads={s.threads}: {s.within_tolerance} of {s.tasks} tasks within max(1 MiB, 1 %) of "
              f"the truth, {s.rows_present} with a row." for s in map(summarise_accuracy, record.accuracy)]
    if record.overhead is not None:
        answer += [f"{probe}: {ratio:.3f} times the wall time without a probe (median of paired ratios)."
                   for probe, ratio in record.overhead.paired_ratio_median.items() if probe != "none"]
    if answer:
        sections.append(Section("The answer", [Items(answer)], style="answer"))
    if record.accuracy:
        summaries = [summarise_accuracy(run) for run in record.accuracy]
        sections.append(Section("Probe accuracy against the ground truth", [
            Table(("probe", "threads", "tasks", "rows", "within max(1 MiB, 1 %)", "≥ truth", "worst shortfall"),
                  [(s.probe, s.threads, s.tasks, s.rows_present, s.within_tolerance, s.at_least_truth,
                    mib_text(s.worst_shortfall_bytes)) for s in summaries], numeric=(1, 2, 3, 4, 5, 6)),
            Table(("probe", "threads", *(label for _, label in DURATION_BUCKETS)),
                  [(s.probe, s.threads, *("-" if (e := s.by_bucket[label].median_relative_error) is None
                                          else f"{100 * e:.1f} %" for _, label in DURATION_BUCKETS))
                   for s in summaries], caption="Median relative error by task duration"),
            Plots([probe_accuracy_plot(f"{run.probe}, threads={run.threads}", [r.truth_bytes for r in run.rows],
                                       [r.measured_bytes for r in run.rows], [r.key for r in run.rows])
                   for run in record.accuracy])]))
    if record.overhead is not None:
        o = record.overhead
        spread = paired_ratios(o)
        sections.append(Section("Probe overhead", [
            Text(f"{o.tasks:,} tiny tasks, {o.repeats} interleaved repeats."),
            Table(("probe", "median s", "ratio of medians", "median of paired ratios", "min", "max"),
                  [(probe, f"{o.median_seconds[probe]:.3f}", f"{o.overhead_ratio[probe]:.3f}",
                    f"{o.paired_ratio_median[probe]:.3f}", f"{min(spread[probe]):.3f}", f"{max(spread[probe]):.3f}")
                   for probe in o.median_seconds], numeric=(1, 2, 3, 4, 5))]))
    sections.append(_environment(record.environment, []))
    return sections


def write_run_report(run: str | Path, record: Record, *, kill_fraction: float, machine: Machine | None = None) -> Path:
    """Write ``RUN/report.html`` for ``record`` (read from ``RUN/run.json``). A sweep's
    recommendation is for ``machine`` (cores, bytes), else the machine the run was measured on,
    with workers killed at ``kill_fraction`` of their limit (dask's config, read by the caller)."""
    run = run_directory(run)
    kind = record.__struct_config__.tag
    if isinstance(record, SweepRecord):
        sections = _sweep_sections(run, record, machine, kill_fraction)
    elif isinstance(record, ProfileRecord):
        sections = [Section("Fil profiles", _profile_blocks(run, record.profiles)),
                    _environment(record.environment, [("scale", record.settings.scale)])]
    elif isinstance(record, SizeRecord):
        sections = [_ladders(record.ladders) or Section("Size ladders", [Text("No ladder was measured.")]),
                    _environment(record.environment, [("scale", record.settings.scale),
                                                      ("repeats", record.settings.repeats),
                                                      ("fractions", ", ".join(f"{f:g}" for f in
                                                                              record.settings.fractions))])]
    elif isinstance(record, SchedulerRecord):
        sections = _scheduler_sections(record)
    elif isinstance(record, ProbeAccuracyRecord):
        sections = _accuracy_sections(record)
    else:  # pragma: no cover - the Record union is closed
        raise UserError(f"{run}: no report for a {kind} record")
    title = "run" if isinstance(record, SweepRecord) and len(record.settings.matrix.cases) == 1 else kind
    return write_page(run / REPORT_NAME, f"memreplay {title} report: {run.name}",
                      f"{record.created} · {record.environment.hostname} · {record.environment.cpu_count} cores, "
                      f"{format_bytes(record.environment.ram_bytes)} · dask {record.environment.dask}, "
                      f"distributed {record.environment.distributed}", sections)
