"""The kind ``sweep`` (``memreplay run``, ``sweep`` and ``bench``; ``nox -s bench``): every case
of a configuration matrix, each in a fresh cluster, then the sizing model and, unless the matrix
says not to, each workload's size ladder and a Fil profile of its hungriest task. Its report
answers first (outcomes and the recommendation), then shows every figure a case measured."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

from dask.utils import format_bytes

from memreplay.analysis.benchmark_figures import figures_of_case
from memreplay.analysis.recommend import DEFAULT_MARGIN, Recommendation, recommend
from memreplay.analysis.scheduler_savings import trimming_savings
from memreplay.analysis.task_summary import largest_prefix
from memreplay.corpora import Corpus, ensure_corpus
from memreplay.execute.sweep import SweepInterrupted, finished_rows, interrupted_in, run_sweep
from memreplay.kinds.base import (
    Command,
    Kind,
    ReportContext,
    Said,
    add_cluster_options,
    add_corpus_options,
    corpus_cache,
    environment_section,
    plural,
    record_said,
)
from memreplay.kinds.plan import load_plan, plan_sections
from memreplay.kinds.profile import profile_blocks
from memreplay.kinds.recommendation import recommendation_section
from memreplay.kinds.size import ladders_section
from memreplay.kinds.sweep_figures import (
    distributions_section,
    heat_maps_section,
    model_section,
    task_rows_by_workload,
    timelines_section,
)
from memreplay.kinds.sweep_memory import (
    MEANINGS,
    memory_manager_plots,
    memory_manager_section,
    paused_text,
    spilled_text,
)
from memreplay.plan.cluster_source import ClusterSource
from memreplay.plan.matrix import Matrix
from memreplay.plan.packaged import DEFAULT_MATRIX_NAME
from memreplay.records.schema import CaseResult, SweepRecord
from memreplay.records.store import RunDirectory, prepare_results_directory
from memreplay.report.blocks import Block, Items, Plots, Section, Table, Text
from memreplay.report.plots import structures_plot
from memreplay.report.units import mib_text, signed_bytes
from memreplay.studies.fil import choose_input, profile_task
from memreplay.studies.size_ladder import run_ladder
from memreplay.workloads import Workload

__all__ = ["KIND", "case_outcome_text", "cluster_lines", "sweep_and_study"]

EXIT_INTERRUPTED = 130
DEFAULT_MATRIX = f"configs/{DEFAULT_MATRIX_NAME}"  # as the repository names it; installed as memreplay.configs


# --- the commands ---------------------------------------------------------------------------------

def _running(args: argparse.Namespace) -> ClusterSource | None:
    from memreplay.plan.cluster_source import running_source

    return running_source(args.scheduler, args.tls_ca_file, args.tls_cert, args.tls_key)


def _configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workload", help="a name from `memreplay list`, replay:TRACE, or package.module:function")
    parser.add_argument("--workers", type=int, help="number of workers (default: one per core)")
    parser.add_argument("--threads", type=int, help="threads per worker (default 1)")
    parser.add_argument("--memory-limit", help="memory limit per worker, e.g. 4GiB (default: 3/4 of RAM shared)")
    parser.add_argument("--processes", action=argparse.BooleanOptionalAction, default=True,
                        help="workers in processes (default) or threads of this process")
    parser.add_argument("--timeout", type=float, help="seconds before the case is stopped as a timeout")
    parser.add_argument("--scheduler-preset", "--scheduler-profile", dest="scheduler_preset", default="default",
                        metavar="NAME", help="the scheduler's preset: configs/scheduler/NAME.toml or a .toml path "
                                             "(default: as installed; --scheduler-profile is its name before 0.2.0)")
    parser.add_argument("--memory-thresholds", default="default", metavar="NAME",
                        help="the workers' memory preset (Dask's target, spill, pause, terminate): "
                             "configs/memory/NAME.toml or a .toml path (default: as installed)")
    add_corpus_options(parser)
    add_cluster_options(parser)


def _call_run(args: argparse.Namespace) -> Said:
    from memreplay.execute.cluster import running_config
    from memreplay.plan.cluster_config import config_from_options
    from memreplay.plan.cluster_source import OWN
    from memreplay.plan.matrix import single_case
    from memreplay.workloads import resolve_workload

    source = _running(args)
    if source is None:
        config = config_from_options(args.workers, args.threads, args.memory_limit, args.processes)
    else:
        config = running_config(source, refused={"--workers": args.workers, "--threads": args.threads,
                                                 "--memory-limit": args.memory_limit,
                                                 "--no-processes": not args.processes or None})
    matrix = single_case(resolve_workload(args.workload), config, args.scale, args.timeout, args.scheduler_preset,
                         source or OWN, args.memory_thresholds)
    results = prepare_results_directory(args.results)
    run = sweep_and_study(matrix, results, corpus_cache(results, args.corpora), label=matrix.cases[0].id)
    return record_said(KIND, run, 0 if run.record.cases[0].outcome == "ok" else 1)


def _configure_sweep(parser: argparse.ArgumentParser, bench: bool) -> None:
    if bench:
        parser.add_argument("--matrix", help=f"matrix (default: memreplay's own {DEFAULT_MATRIX}, installed with it)")
    else:
        parser.add_argument("matrix", help="a matrix TOML file, or the name of one memreplay ships (default, "
                            "scheduler-presets, asv: its configs/NAME.toml)")
    parser.add_argument("--quick", action="store_true", help="the matrix's [quick] variant: smaller, fewer cases")
    parser.add_argument("--resume", metavar="RUN", help="finish the cases missing from an interrupted run")
    add_corpus_options(parser, scale=False)
    add_cluster_options(parser)


def _call_sweep(args: argparse.Namespace) -> Said:
    from memreplay.plan.matrix import load_matrix
    from memreplay.plan.packaged import matrix_path, packaged_config

    path = matrix_path(args.matrix) if args.matrix else packaged_config(DEFAULT_MATRIX_NAME)
    matrix = load_matrix(path, quick=args.quick, running=_running(args))  # every problem, before any case
    results = prepare_results_directory(args.results)
    try:
        run = sweep_and_study(matrix, results, corpus_cache(results, args.corpora), resume=args.resume)
    except SweepInterrupted as interrupted:
        return Said(f"\nmemreplay: interrupted; finished cases are kept in {interrupted.directory}; to finish, run "
                    f"the same command with --resume {interrupted.directory}", EXIT_INTERRUPTED, to_stderr=True)
    # out of memory and timeouts are what a sweep is for; an error or a wrong answer is not
    return record_said(KIND, run, 1 if any(case.outcome == "error" for case in run.record.cases) else 0)


def sweep_and_study(matrix: Matrix, results: Path, corpora: Path, resume: str | None = None,
                    label: str = "sweep") -> RunDirectory[SweepRecord]:
    """The cases and the model (:func:`memreplay.execute.sweep.run_sweep`), then, as the matrix
    asks, each workload's size ladder and a Fil profile of its hungriest task, the record saved
    after each."""
    run = run_sweep(matrix, results, corpora, resume=resume, label=label)
    studied = list(dict.fromkeys(case.workload for case in matrix.cases if case.workload.task_function))
    if not studied or not (matrix.size_ladder or matrix.fil_profiles):
        return run
    with interrupted_in(run):
        # verified once per corpus (the sweep verified them before its cases, too)
        corpus_by_kind = {kind: ensure_corpus(kind, matrix.scale, corpora)
                          for kind in dict.fromkeys(workload.corpus_kind for workload in studied)}
        _study(run, matrix, studied, corpus_by_kind)
    return run


def _study(run: RunDirectory[SweepRecord], matrix: Matrix, studied: list[Workload],
           corpus_by_kind: dict[str, Corpus]) -> None:
    with run.exclusive():
        if matrix.size_ladder:
            run.record.summary.ladders = []
            for workload in studied:
                corpus = corpus_by_kind[workload.corpus_kind]
                run.record.summary.ladders.append(run_ladder(
                    workload, corpus, run.directory / "scratch" / workload.slug,
                    repeats=matrix.ladder_repeats, timeout_s=matrix.timeout_s or 600))
                run.save()
        if matrix.fil_profiles:  # of the workloads whose task function can run alone (not a replay)
            run.record.summary.profiles = []
            for workload in studied:
                corpus = corpus_by_kind[workload.corpus_kind]
                chosen = choose_input(corpus, finished_rows(run, workload.name))
                print(f"profiling {workload.name} on {chosen.name} under Fil ...", file=sys.stderr)
                run.record.summary.profiles.append(profile_task(
                    workload.name, corpus.path(chosen), run.directory / "profiles" / workload.slug,
                    timeout=matrix.timeout_s or 600))
                run.save()


# --- the record as sections -------------------------------------------------------------------------

OUTCOME_WORDS = {"ok": "ok", "oom": "out of memory", "timeout": "timed out", "error": "failed"}


def case_outcome_text(case: CaseResult) -> str:
    """One line: what became of a case, and why when it was not ``ok``."""
    line = f"{case.id}: {case.outcome}" + (" (borderline)" if case.borderline else "")
    if case.wall_time_s is not None:
        line += f" in {case.wall_time_s:.2f} s"
    if case.outcome != "ok" and case.error:
        line += f" — {case.error}"
    if case.oom is not None and case.oom.task:
        line += f" (executing: {case.oom.task})"
    return line


def _answer(record: SweepRecord, advice: Recommendation, machine_said: str) -> Section:
    if len(record.cases) == 1:
        items = [case_outcome_text(record.cases[0])]
    else:
        outcomes: dict[str, int] = defaultdict(int)
        for case in record.cases:
            outcomes[case.outcome] += 1
        counted = ", ".join(f"{n} {OUTCOME_WORDS[o]}"
                            for o, n in sorted(outcomes.items(), key=lambda item: item[0] != "ok"))
        items = [f"{plural(len(record.cases), 'case')}: {counted or 'none finished'}."]
    for workload, a in advice.workloads.items():
        if a.tasks_at_once:
            line = (f"{workload}: on {machine_said}, run {plural(a.n_workers or 0, 'worker')} × "
                    f"{plural(a.threads_per_worker or 0, 'thread')} with {format_bytes(a.memory_limit or 0)} each "
                    f"({a.tasks_at_once} tasks at once; its largest task needs "
                    f"{format_bytes(a.largest_peak_increase_bytes or 0)}).")
        else:
            line = f"{workload}: no safe configuration on {machine_said}: {a.reason}."
        if a.spill_note:
            line += (f" It will spill: {a.spill_note}." if a.spills else
                     f" {a.spill_note[0].upper()}{a.spill_note[1:]}.")
        if a.cheapest:
            line += (f" Cheapest measured: {a.cheapest.shape} at {a.cheapest.memory_limit}"
                     + (", which spilled." if a.cheapest.spilled else "."))
        if a.oom_cases:
            line += f" Out of memory in {plural(len(a.oom_cases), 'case')}."
        if a.borderline_cases:
            line += (f" Not advised, peaked within a few percent of the kill line: "
                     f"{', '.join(a.borderline_cases)}.")
        items.append(line)
    return Section("The answer", [Items([*items, *cluster_lines(record)])], style="answer")


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "ok" if ok else "MISSED"


def _fidelity(record: SweepRecord) -> Section | None:
    replayed = [case for case in record.cases if case.fidelity is not None]
    if not replayed:
        return None
    rows, styles = [], []
    for case in replayed:
        f = case.fidelity
        assert f is not None
        rows.append((case.id, f"{f.within_tolerance}/{f.compared} (of {f.tasks})",
                     "-" if f.worst_error_bytes is None else signed_bytes(f.worst_error_bytes), _verdict(f.peaks_ok),
                     "-" if f.span_replay_s is None else f"{f.span_replay_s:.2f} s", f"{f.span_trace_s:.2f} s",
                     "-" if f.span_error_percent is None else f"{f.span_error_percent:+.1f} %",
                     _verdict(f.span_ok) if f.same_configuration else "n/a (another configuration)",
                     f"{f.outcome_replay} / {f.outcome_trace}", _verdict(f.outcome_ok),
                     "-" if f.spilled_replay_bytes is None and f.spilled_trace_bytes is None else
                     f"{mib_text(f.spilled_replay_bytes)} / {mib_text(f.spilled_trace_bytes)}"))
        styles.append("" if f.peaks_ok is not False and f.span_ok is not False and f.outcome_ok else "flag")
    return Section("Replay fidelity", [
        Text("Each replay (replay:TRACE) against its recording. Peaks: of the tasks that ran alone in their worker "
             "in the replay (with neighbours, a peak increase holds theirs too), those whose replayed peak increase "
             "is within the probe's accuracy, max(1 MiB, 1 %), of the recorded one, plus the bytes that arrived "
             "from other workers while it ran in either run (goal: 95 %). Span: first task's start to "
             "last task's stop, compared only on the configuration the trace was recorded on (goal ±15 %). "
             "Outcome: out of memory in both or in neither.", note=True),
        Table(("case", "peaks within", "worst error", "peaks verdict", "span", "recorded span", "span error",
               "span verdict", "outcome (replay / recorded)", "outcome verdict",
               "written to spill files (replay / recorded)"), rows, numeric=(2, 4, 5, 6),
              row_styles=styles)])


def _schedulers(record: SweepRecord) -> list[Section]:
    measured = [case for case in record.cases if case.scheduler is not None]
    if not measured:
        return []
    rows = []
    for case in measured:
        s = case.scheduler
        assert s is not None
        rows.append((case.id, s.preset, mib_text(s.rss_start_bytes), mib_text(s.rss_peak_bytes),
                     mib_text(s.rss_end_bytes), f"{s.transitions:,}",
                     f"{sum(size.entries for size in s.structures.values()):,}",
                     mib_text(sum(size.bytes for size in s.structures.values()))))
    peaks = [case.scheduler.rss_peak_bytes for case in measured if case.scheduler]
    transitions = max(case.scheduler.transitions for case in measured if case.scheduler)
    savings = trimming_savings(record.cases)
    sections = [Section("The scheduler in each case", [
        Text("Every case's scheduler runs in a process of its own (dask scheduler), under the case's scheduler "
             "preset (configs/scheduler/NAME.toml), so these figures are the scheduler's alone. Peak: during the "
             "case (reset when it starts) where Linux allows, else since the scheduler started. Structures: the "
             "bounded logs it keeps (transition log, events, task stream, ...), entries and deep size after the "
             "case.", note=True),
        Table(("case", "preset", "RSS at start", "peak", "at end", "transitions", "structure entries",
               "structure bytes"), rows, numeric=(2, 3, 4, 5, 6, 7))], terminal=False)]
    if not savings:
        sections.append(Section("Scheduler", [Text(
            f"Peak RSS {format_bytes(min(peaks))} to {format_bytes(max(peaks))} (a process of its own in every case, "
            f"preset {measured[0].scheduler.preset if measured[0].scheduler else '?'}), at most {transitions:,} "
            "transitions.")], terminal=len(record.cases) > 1))
        return sections
    sections.append(Section("What each scheduler preset saves", [
        Table(("workload", "configuration", "preset", "default peak", "preset peak", "peak saving",
               "end saving", "structures", "entries"),
              [(s.workload, s.configuration, s.preset, mib_text(s.peak_default_bytes),
                mib_text(s.peak_other_bytes), signed_bytes(s.peak_saving_bytes), signed_bytes(s.end_saving_bytes),
                signed_bytes(s.structures_saving_bytes), f"{s.entries_saving:+,}") for s in savings],
              caption="What each preset saves against the default, per configuration (positive: less memory): "
                      "the scheduler's peak and end RSS, its bounded structures' bytes and entries",
              numeric=(3, 4, 5, 6, 7, 8)),
        Plots([structures_plot("Scheduler peak RSS per configuration",
                               [f"{s.workload} {s.configuration}" for s in savings],
                               [s.peak_default_bytes for s in savings], [s.peak_other_bytes for s in savings],
                               measure="scheduler peak RSS", profiles=("default", savings[0].preset))])]))
    return sections


def cluster_lines(record: SweepRecord) -> list[str]:
    """Where the cases ran, when not on memreplay's own local clusters, and every version warning."""
    source = record.settings.matrix.cluster
    lines = [] if source.kind == "own" else [f"cluster: {source.description}"]
    if source.kind != "own" and (record.summary.profiles or record.summary.ladders):
        hosts = sorted({item.host or "?" for item in [*record.summary.profiles, *record.summary.ladders]})
        lines.append(f"profiles and size ladders ran here ({', '.join(hosts)}), not on the cluster")
    warnings = dict.fromkeys(w for case in record.cases if case.cluster for w in case.cluster.version_warnings)
    lines += [f"warning: {warning}" for warning in warnings]
    return lines


def _cases(record: SweepRecord) -> Section:
    rows, styles = [], []
    for case in record.cases:
        figures = figures_of_case(case) or {}
        largest = largest_prefix(case.task_memory)
        why = (case.error or "") + (f" (executing {case.oom.task})" if case.oom and case.oom.task else "")
        if case.borderline:
            why = f"peaked {case.kill_margin_percent:.1f} % below its kill line: the next run may not survive"
        rows.append((case.id, case.outcome + (" (borderline)" if case.borderline else ""),
                     "-" if case.wall_time_s is None else f"{case.wall_time_s:.2f} s",
                     "-" if case.cost_gib_s is None else f"{case.cost_gib_s:,.0f}",
                     "-" if largest is None else f"{largest[0]} {mib_text(largest[1])}",
                     mib_text(figures.get("worker_peak_rss_bytes")), spilled_text(case), paused_text(case),
                     case.answer_check, why))
        styles.append("" if case.outcome == "ok" and not case.borderline else "flag")
    blocks: list[Block] = [Table(("case", "outcome", "wall time", "GiB·s", "largest task, peak increase",
                                  "worker peak RSS", "spilled", "paused", "answer", "why not ok"), rows,
                                 numeric=(2, 3, 5, 6, 7), row_styles=styles)]
    if record.settings.matrix.cluster.kind != "own":
        blocks.insert(0, Text(f"The cases ran on {record.settings.matrix.cluster.description}; each case's "
                              "scheduler address and workers (shape, host, package versions) are in run.json "
                              "under cases[].cluster.", note=True))
    return Section("Cases", blocks, terminal=len(record.cases) > 1)  # one case: the answer says it


def _sections(run: Path, record: SweepRecord, context: ReportContext) -> list[Section]:
    cores, memory = context.machine or (record.environment.cpu_count or 1, record.environment.ram_bytes)
    machine_said = (f"{cores} cores and {format_bytes(memory)}"
                    + ("" if context.machine else " (the machine this ran on)"))
    advice = recommend(record, cores, memory, DEFAULT_MARGIN, context.kill_fraction)
    rows = task_rows_by_workload(run, record)
    matrix = record.settings.matrix
    multi = len(record.cases) > 1
    recommendation = recommendation_section(advice, measured_on=context.machine is None)
    recommendation.terminal = False  # the answer says it in a line per workload
    sections: list[Section | None] = [
        _answer(record, advice, machine_said), _fidelity(record), heat_maps_section(record),
        distributions_section(rows), ladders_section(record.summary.ladders) if record.summary.ladders else None,
        model_section(record, rows) if multi else None, recommendation, *_plan(run)]
    if record.summary.profiles:
        sections.append(Section("Fil profiles of the hungriest tasks", profile_blocks(run, record.summary.profiles)))
    spilling = memory_manager_plots(run, record)
    sections += [*memory_manager_section(record), *_schedulers(record), timelines_section(run, record),
                 Section("Managed, unmanaged and spilled memory", [
                     Text("Each worker of the cases that spilled or paused, as Dask's dashboard draws it: managed "
                          "(blue), unmanaged (pale blue) and spilled (grey, its bytes on disk) memory stacked, "
                          "the memory limit (black) and the target, spill, pause and terminate lines; red spans: "
                          "paused. "
                          + MEANINGS, note=True), *spilling], terminal=False) if spilling else None,
                 _cases(record),
                 environment_section(record.environment, [
                     ("matrix", matrix.source), ("cluster", matrix.cluster.description), ("scale", matrix.scale),
                     ("repeats", matrix.repeats), ("time limit", matrix.timeout_s),
                     ("cases planned", len(matrix.cases))])]
    return [s for s in sections if s is not None]


def _plan(run: Path) -> list[Section]:
    """The rollout plan ``memreplay plan`` saved beside the run, if any (not on the terminal: the
    command prints it)."""
    plan = load_plan(run)
    if plan is None:
        return []
    if isinstance(plan, str):
        return [Section("Rollout plan", [Text(plan)], terminal=False)]
    sections = plan_sections(plan, plots=True)
    for section in sections:
        section.terminal = False
    return sections


def _title(record: SweepRecord) -> str:
    return "run" if len(record.settings.matrix.cases) == 1 else "sweep"


QUESTION = "How much memory does each task need, and how does it grow?"

KIND = Kind(
    tag="sweep", record_type=SweepRecord, sections=_sections, title=_title,
    commands=(
        Command("run", QUESTION, "run one workload on one cluster configuration", _configure_run, _call_run),
        Command("sweep", QUESTION, "run every case of a configuration matrix (TOML)",
                lambda parser: _configure_sweep(parser, bench=False), _call_sweep),
        Command("bench", QUESTION, f"the main job: the default sweep, {DEFAULT_MATRIX}",
                lambda parser: _configure_sweep(parser, bench=True), _call_sweep),
    ),
)
