"""Plain-text reports for the terminal: every table memreplay prints, from typed records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from dask.utils import format_bytes

from harness.analysis.model import heldout_error_text
from harness.analysis.probe_accuracy import DURATION_BUCKETS, BucketSummary, paired_ratios, summarise_accuracy
from harness.analysis.recommend import Recommendation
from harness.analysis.regression import Comparison, GateRule, regressed
from harness.analysis.scheduler_footprint import trimming_savings
from harness.analysis.task_summary import largest_prefix
from harness.plan.sizes import compact_bytes
from harness.records.schema import (
    CaseResult,
    FootprintComparison,
    PrefixModel,
    ProbeAccuracyRecord,
    ProfileRecord,
    SchedulerRecord,
    SizeLadder,
    SizeRecord,
    SweepRecord,
    TaskProfile,
)
from harness.records.task_rows import MIB
from harness.report.table import format_table
from harness.report.units import signed_bytes
from workloads import Workload

__all__ = [
    "HOLDING_PERCENT", "RSS_GROWTH_FLOOR", "case_outcome_text", "footprint_text", "gate_text", "ladder_table",
    "model_table", "probe_accuracy_text", "profile_table", "profiles_text", "recommendation_text",
    "scheduler_cases_text", "scheduler_text", "size_text", "summary_table", "sweep_text", "workloads_table",
]

TOP_LINES = 5
HOLDING_PERCENT = 1.0  # a Fil line below this share of the peak is noise (thread pools, imports), not shown
RSS_GROWTH_FLOOR = 64 * 1024  # memory_profiler reads RSS in pages: a smaller growth is not the line's doing


def _largest_prefix(case: CaseResult) -> tuple[str, str]:
    """The prefix and peak increase of the task that needed the most memory in a case."""
    largest = largest_prefix(case.task_memory)
    return ("-", "-") if largest is None else (largest[0], format_bytes(largest[1]))


def summary_table(cases: Sequence[CaseResult]) -> str:
    rows = [
        (c.workload.name, c.config.n_workers, c.config.threads_per_worker, format_bytes(c.config.memory_limit),
         c.outcome, "-" if c.wall_time_s is None else f"{c.wall_time_s:.2f}",
         "-" if c.cost_gib_s is None else f"{c.cost_gib_s:.0f}", c.answer_check, *_largest_prefix(c))
        for c in cases
    ]
    headers = ("workload", "workers", "threads", "memory limit", "outcome", "wall s", "GiB·s", "answer",
               "largest task", "its peak increase")
    return format_table(headers, rows)


def case_outcome_text(case: CaseResult) -> str:
    """One line: what became of a case, and why when it was not ``ok``."""
    line = f"{case.id}: {case.outcome}"
    if case.wall_time_s is not None:
        line += f" in {case.wall_time_s:.2f} s"
    if case.outcome != "ok" and case.error:
        line += f" — {case.error}"
    if case.oom is not None and case.oom.task:
        line += f" (executing: {case.oom.task})"
    return line


def model_table(model: dict[str, PrefixModel]) -> str:
    rows = [(prefix, m.points, f"{m.slope:.2f}", signed_bytes(m.intercept_bytes),
             format_bytes(m.heldout.input_bytes), signed_bytes(m.heldout.predicted_bytes),
             format_bytes(m.heldout.measured_bytes),
             "-" if m.heldout.error_percent is None else f"{m.heldout.error_percent}%")
            for prefix, m in sorted(model.items())]
    title = "Peak increase vs input size (linear fit; held out: the largest input, predicted from the rest)"
    headers = ("task prefix", "tasks", "bytes/byte", "intercept", "held-out input", "predicted", "measured", "error")
    return title + "\n\n" + format_table(headers, rows)


def ladder_table(ladders: Sequence[SizeLadder]) -> str:
    """Each size ladder's fit, and its held-out error against the goal."""
    rows = []
    for ladder in ladders:
        model = ladder.model
        if model is None:
            rows.append((ladder.workload, ladder.prefix, "-", "-", "-", "-", "-", "-",
                         f"{ladder.outcome}: {ladder.reason}" if ladder.reason else "fewer than 3 sizes measured"))
            continue
        rows.append((ladder.workload, ladder.prefix, f"{model.slope:.2f}", signed_bytes(model.intercept_bytes),
                     format_bytes(model.heldout.input_bytes), format_bytes(model.heldout.predicted_bytes),
                     format_bytes(model.heldout.measured_bytes), heldout_error_text(ladder),
                     ("within goal" if ladder.meets_goal else "MISSES goal")
                     + (f"; {ladder.outcome}: {ladder.reason}" if ladder.reason else "")))
    title = ("Peak increase vs input size (size ladder: each task function alone, a fresh process per measurement; "
             "held out: the largest input, predicted from the rest)")
    headers = ("workload", "task prefix", "bytes/byte", "intercept", "held-out input", "predicted", "measured",
               "error (repeats)", "goal")
    return title + "\n\n" + format_table(headers, rows)


def size_text(record: SizeRecord, path: Path) -> str:
    return f"{ladder_table(record.ladders)}\n\nresults: {path}"


def profile_table(profiles: Sequence[TaskProfile]) -> str:
    """Profiles side by side: Fil's peak, each workload's top lines with their source text,
    then memory_profiler's largest line increments."""
    def peak(p: TaskProfile) -> str:
        return format_bytes(p.peak_tracked_bytes or 0) if p.outcome == "ok" else f"{p.outcome}: {p.reason}"

    def fil_line(p: TaskProfile, rank: int) -> str:
        holding = [top for top in p.top_lines if top.percent >= HOLDING_PERCENT]
        if rank >= len(holding):
            return ""
        top = holding[rank]
        return f"{Path(top.file).name}:{top.line} {top.code or top.function}  {top.percent}%"

    def rss_line(p: TaskProfile, rank: int) -> str:
        if p.line_rss is None:
            return f"not measured: {p.line_rss_error}" if rank == 0 and p.line_rss_error else ""
        growing = sorted((line for line in p.line_rss if line.increment_bytes >= RSS_GROWTH_FLOOR),
                         key=lambda line: line.increment_bytes, reverse=True)
        if rank >= len(growing):
            return ""
        line = growing[rank]
        return f"{Path(line.file).name}:{line.line} {line.code}  +{line.increment_bytes / MIB:.1f} MiB"

    rows = [("peak (Fil: tracked allocations)", *(peak(p) for p in profiles))]
    rows += [(f"Fil line #{rank + 1}", *(fil_line(p, rank) for p in profiles)) for rank in range(TOP_LINES)]
    rows += [(f"RSS growth #{rank + 1} (memory_profiler)", *(rss_line(p, rank) for p in profiles))
             for rank in range(3)]
    return format_table(("", *(p.workload for p in profiles)), [r for r in rows if any(r[1:])])


def recommendation_text(advice: Recommendation) -> str:
    footprint = "not measured" if advice.worker_footprint_bytes is None else format_bytes(advice.worker_footprint_bytes)
    lines = [f"Machine: {advice.cores} cores, {format_bytes(advice.memory_bytes)}; keeping "
             f"{advice.margin:.0%} in reserve leaves {format_bytes(advice.usable_bytes)}. "
             f"A worker's own footprint, measured in the run: {footprint}; its nanny kills it at "
             f"{advice.kill_fraction:.0%} of its limit.", ""]
    if advice.input_bytes is not None:
        lines[-1:] = [f"Sized for tasks of {format_bytes(advice.input_bytes)} of input: each task's peak increase is "
                      "predicted, not measured.", ""]
    rows, reasons = [], []
    for workload, a in advice.workloads.items():
        shape = (f"{a.n_workers}x{a.threads_per_worker}, {compact_bytes(a.memory_limit or 0)} each"
                 if a.tasks_at_once else "-")
        fastest, cheapest = a.fastest, a.cheapest
        rows.append((workload, "-" if a.largest_peak_increase_bytes is None else
                     format_bytes(a.largest_peak_increase_bytes), a.tasks_at_once, shape,
                     f"{fastest.shape} {fastest.memory_limit} ({fastest.wall_time_s:.1f} s)" if fastest else "-",
                     f"{cheapest.shape} {cheapest.memory_limit} ({cheapest.cost_gib_s:.0f} GiB·s)"
                     if cheapest else "-",
                     len(a.oom_cases)))
        if a.reason:
            reasons.append(f"{workload}: {a.reason}")
        elif a.predicted_by:
            reasons.append(f"{workload}: largest task predicted by {a.predicted_by}")
    if not advice.workloads:
        return "\n".join([*lines, "The run has no cases, so there is nothing to advise from: run a sweep first."])
    lines.append(format_table(("workload", "largest task", "tasks at once", "use", "fastest in run",
                               "cheapest in run", "oom cases"), rows))
    if reasons:
        lines += ["", *reasons]
    return "\n".join(lines)


def scheduler_cases_text(cases: Sequence[CaseResult]) -> str:
    """The scheduler of each case, in its own process: with several scheduler profiles, what
    each saves against the default per configuration; with one, the range of its figures."""
    measured = [case.scheduler for case in cases if case.scheduler is not None]
    if not measured:
        return ""
    savings = trimming_savings(cases)
    if not savings:
        peaks = [s.rss_peak_bytes for s in measured]
        return (f"Scheduler (a process of its own in every case, profile {measured[0].profile}): peak RSS "
                f"{format_bytes(min(peaks))} to {format_bytes(max(peaks))}, at most "
                f"{max(s.transitions for s in measured):,} transitions.")
    rows = [(s.workload, s.configuration, s.profile, format_bytes(s.peak_default_bytes),
             format_bytes(s.peak_other_bytes), signed_bytes(s.peak_saving_bytes), signed_bytes(s.end_saving_bytes),
             signed_bytes(s.structures_saving_bytes), f"{s.entries_saving:+,}") for s in savings]
    return ("Scheduler per configuration, each case's in a process of its own: what the profile saves against "
            "the default\n\n" + format_table(("workload", "configuration", "profile", "peak (default)",
                                               "peak (profile)", "peak saving", "end saving", "structures saving",
                                               "entries saving"), rows))


def sweep_text(record: SweepRecord, path: Path) -> str:
    """What a sweep (or ``memreplay run``) prints when it ends."""
    if len(record.cases) == 1:
        parts = [case_outcome_text(record.cases[0])]
    else:
        # the size ladder, where there is one, is the model: the fit on the sweep's own tasks
        # (kept in the record and the report) mixes in what earlier tasks left in each worker
        parts = [summary_table(record.cases), "", ladder_table(record.summary.ladders) if record.summary.ladders
                 else model_table(record.summary.model)]
        if scheduler := scheduler_cases_text(record.cases):
            parts += ["", scheduler]
    if record.summary.profiles:
        parts += ["", profile_table(record.summary.profiles)]
    fidelity = [fidelity_text(case) for case in record.cases if case.fidelity is not None]
    if fidelity:
        parts += ["", *fidelity]
    parts += ["", *cluster_lines(record), f"results: {path}"]
    return "\n".join(parts)


def fidelity_text(case: CaseResult) -> str:
    """A replay's three checks against its recording, each with its verdict."""
    f = case.fidelity
    assert f is not None

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "ok" if ok else "MISSED"

    worst = "-" if f.worst_error_bytes is None else signed_bytes(f.worst_error_bytes)
    if f.span_replay_s is None:
        span = "no finished task"
    else:
        span = (f"{f.span_replay_s:.2f} s vs {f.span_trace_s:.2f} s recorded "
                f"({'-' if f.span_error_percent is None else f'{f.span_error_percent:+.1f} %'})")
    if not f.same_configuration:
        span += ", another configuration than the recording's: not compared"
    return "\n".join([
        f"Replay fidelity of {case.id}:",
        f"  peaks    {verdict(f.peaks_ok):6}  {f.within_tolerance}/{f.compared} tasks within max(1 MiB, 1 %) of the"
        f" trace, plus data received meanwhile (goal 95 %; compared: the {f.compared} of {f.tasks} that ran alone"
        f" in their worker; worst {worst})",
        f"  span     {verdict(f.span_ok):6}  {span} (goal ±15 %)",
        f"  outcome  {verdict(f.outcome_ok):6}  {f.outcome_replay}, recorded {f.outcome_trace}",
    ])


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


def profiles_text(record: ProfileRecord, path: Path) -> str:
    return f"{profile_table(record.profiles)}\n\nresults: {path}"


def footprint_text(c: FootprintComparison) -> str:
    def per_entry(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    rows = [(r.structure, r.default.entries, format_bytes(r.default.bytes), per_entry(r.default_bytes_per_entry),
             r.trimmed.entries, format_bytes(r.trimmed.bytes), per_entry(r.trimmed_bytes_per_entry),
             "-" if r.published_bytes_per_entry is None else str(r.published_bytes_per_entry),
             signed_bytes(r.saving_bytes))
            for r in c.rows]
    return "\n".join([
        f"Scheduler log structures, distributed {c.distributed} (deep sizes on the live objects)", "",
        format_table(("structure", "entries", "bytes", "B/entry", "trimmed entries", "trimmed bytes",
                      "trimmed B/entry", "published B/entry", "saving"), rows),
        "",
        f"Scheduler RSS at the end: default {format_bytes(c.rss_default_bytes)}, trimmed "
        f"{format_bytes(c.rss_trimmed_bytes)}, default again (A/A) {format_bytes(c.rss_default_again_bytes)}",
        f"Saving: {signed_bytes(c.rss_saving_bytes)} ({c.rss_saving_percent}% of RSS); "
        f"A/A noise {format_bytes(c.rss_noise_bytes)}",
        f"The structures' own saving, {signed_bytes(c.structures_saving_bytes)}, is "
        f"{'-' if c.reconciled_percent is None else c.reconciled_percent}% of the RSS saving.",
    ])


def scheduler_text(record: SchedulerRecord, path: Path) -> str:
    body = footprint_text(record.comparison) if record.comparison else "no comparison: the study did not finish"
    return f"{body}\n\nresults: {path}"


def _mib(value: int | None) -> str:
    return "-" if value is None else f"{value / MIB:.2f} MiB"


def _bucket_cell(bucket: BucketSummary) -> str:
    error = bucket.median_relative_error
    shown = "-" if error is None else f"{100 * error:.1f}%"
    return f"{shown} ({bucket.rows}/{bucket.tasks})"


def probe_accuracy_text(record: ProbeAccuracyRecord) -> str:
    """The probe comparison as plain-text tables."""
    summaries = [summarise_accuracy(run) for run in record.accuracy]
    lines = ["Accuracy on the ground-truth graph (goal: within max(1 MiB, 1%) of the truth)", ""]
    lines.append(format_table(
        ("probe", "threads", "tasks", "rows", "within goal", ">= truth", "overlap rows", "worst shortfall"),
        [(s.probe, s.threads, s.tasks, s.rows_present, s.within_tolerance, s.at_least_truth, s.overlapping_rows,
          _mib(s.worst_shortfall_bytes)) for s in summaries],
    ))
    lines += ["", "Median relative error by task duration (rows present / tasks)", ""]
    lines.append(format_table(
        ("probe", "threads", *(label for _, label in DURATION_BUCKETS)),
        [(s.probe, s.threads, *(_bucket_cell(s.by_bucket[label]) for _, label in DURATION_BUCKETS))
         for s in summaries],
    ))
    overhead = record.overhead
    if overhead is not None:
        lines += ["", f"Overhead on {overhead.tasks:,} tiny tasks, 2 workers x 1 thread, "
                  f"{overhead.repeats} interleaved repeats", ""]
        spread = paired_ratios(overhead)
        lines.append(format_table(
            ("probe", "median s", "ratio of medians", "median paired ratio", "min", "max"),
            [(probe, f"{overhead.median_seconds[probe]:.3f}", f"{overhead.overhead_ratio[probe]:.3f}",
              f"{overhead.paired_ratio_median[probe]:.3f}", f"{min(spread[probe]):.3f}", f"{max(spread[probe]):.3f}")
             for probe in overhead.median_seconds],
        ))
    rows = record.rows
    if rows is not None:
        lines += ["", f"Rows: {rows.rows:,} of {rows.tasks:,} tasks have a row ({rows.missing} missing), "
                  f"{rows.seconds:.1f} s"]
    return "\n".join(lines)


def workloads_table(workloads: Iterable[Workload]) -> str:
    return format_table(("workload", "version", "corpus", "description"),
                        [(w.name, w.version, w.corpus_kind, w.description) for w in workloads])


def gate_text(base: str, head: str, rule: GateRule, comparisons: Sequence[Comparison], gated: str) -> str:
    """The regression gate's table: every gated figure, base beside head, and the verdict."""
    rows = [(*c.key, "-" if c.base is None else format_bytes(int(c.base)),
             "-" if c.head is None else format_bytes(int(c.head)),
             "-" if c.base is None or c.head is None else signed_bytes(int(c.head - c.base)),
             "-" if c.ratio is None else f"{c.ratio:.3f}", c.verdict) for c in comparisons]
    width = len(comparisons[0].key) if comparisons else 0
    headers = (*("workload", "shape")[:width], *("param",) * max(0, width - 2),
               f"base {base[:8]}", f"head {head[:8]}", "change", "ratio", "verdict")
    verdict = ("REGRESSED" if regressed(comparisons) else "passed")
    return (f"{gated}: worse by more than {rule.threshold:.0%} and by more than "
            f"{format_bytes(int(rule.floor))} fails\n{format_table(headers, rows)}\n"
            f"memory regression gate: {verdict}")
