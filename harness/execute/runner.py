"""Run one case: its cluster (fresh, or the running one), the corpus staged on every worker, the
probes attached, the workload computed, its answer checked."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from memreplay.corpora import Corpus
from memreplay.execute.cluster import open_cluster
from memreplay.execute.corpus_staging import stage_on_workers
from memreplay.execute.outcomes import (
    BORDERLINE_PERCENT,
    classify_failure,
    kill_margin_percent,
    name_the_running_task,
    one_line,
    paused_note,
)
from memreplay.plan.cluster_source import OWN, ClusterSource
from memreplay.plan.matrix import Case
from memreplay.probes.base import Probe, ProbeContext
from memreplay.probes.memory_manager import MemoryManagerProbe
from memreplay.probes.scheduler_footprint import SchedulerFootprintProbe
from memreplay.probes.task_memory import TaskMemoryProbe
from memreplay.probes.timeline import TimelineProbe
from memreplay.records.schema import CaseResult, CorpusRef, OomInfo, Outcome, Timeline, WorkloadRef
from memreplay.report.timeline_plot import draw_case_timeline
from memreplay.workloads import AnswerMismatch
from memreplay.workloads.workload import DeadlinePassed

__all__ = ["default_probes", "run_case"]


def default_probes() -> list[Probe]:
    # The timeline stops after the per-task probe, so its plot can mark the peaks in the finished
    # tasks.csv; the memory manager after the timeline, whose samples carry its per-moment figures;
    # the scheduler's footprint last, after everything the case made it hold.
    return [TaskMemoryProbe(), TimelineProbe(), MemoryManagerProbe(), SchedulerFootprintProbe()]


def run_case(case: Case, corpus: Corpus, case_dir: Path, probes: list[Probe] | None = None,
             timeout_s: float | None = None, source: ClusterSource = OWN) -> CaseResult:
    """Open the case's cluster from ``source`` (by default a fresh one, its scheduler in a process
    of its own under the case's scheduler preset), stage the corpus on every worker, attach the
    probes, compute the workload, check its answer. Never raises for a failure of the workload
    itself (an error, running out of memory, passing ``timeout_s``): that is the case's outcome."""
    workload, config = case.workload, case.config
    probes = default_probes() if probes is None else probes
    outcome: Outcome = "ok"
    error: str | None = None
    oom: OomInfo | None = None
    measured: dict[str, Any] = {}
    with open_cluster(source, config, case_dir, case.scheduler.settings, case.memory.config) as cluster:
        client = cluster.client
        # memreplay's own workers are processes of this machine: they share its corpus cache;
        # any other worker uses its own ($MEMREPLAY_CORPORA there, else its temp directory)
        staged = stage_on_workers(client, corpus, corpus.root.parent if source.kind == "own" else None)
        context = ProbeContext(case_dir, workload.input_bytes(corpus), config.scheduler_preset,
                               config.memory_thresholds, scheduler_is_local=cluster.scheduler_is_local)
        for probe in probes:
            probe.start(client, context)
        started_on_scheduler = client.run_on_scheduler(time.time)  # a running scheduler remembers earlier cases
        started = time.perf_counter()
        future = None
        try:
            if workload.drive is not None:  # it submits its tasks itself (a replayed trace)
                answer = workload.drive(client, staged, timeout_s)
            else:
                future = client.compute(workload.build(staged))
                answer = future.result(timeout=timeout_s)
        except Exception as failure:  # the workload (or a user's build) failed: record it, go on
            # only our own deadline is a timeout; a task that raised TimeoutError itself erred
            deadline_passed = isinstance(failure, DeadlinePassed) or (
                isinstance(failure, TimeoutError) and future is not None and future.status != "error")
            outcome, error, oom = classify_failure(failure, client, deadline_passed, since=started_on_scheduler)
            answer = None
        wall_time_s = time.perf_counter() - started
        notes: list[str] = []
        for probe in probes:
            try:
                measured[probe.name] = probe.stop(outcome)
            except Exception as failure:  # a probe that cannot write its files never loses the case
                measured[probe.name] = None
                notes.append(f"the {probe.name} probe failed: {one_line(failure)}")
    if isinstance(measured.get("timeline"), Timeline):  # drawn once the per-task rows are written
        measured["timeline"] = draw_case_timeline(case_dir, measured["timeline"])
    task_memory = measured.get("task_memory")
    if oom is not None and task_memory is not None:
        oom = name_the_running_task(oom, task_memory.worker_died)
    answer_check = "not checked"
    if outcome == "ok" and workload.check is not None:
        try:
            workload.check(answer, corpus)
            answer_check = "passed"
        except AnswerMismatch as mismatch:
            outcome, answer_check, error = "error", "failed", f"answer mismatch: {mismatch}"
    notes += cluster.record.version_warnings
    memory_manager = measured.get("memory_manager")
    if outcome == "timeout" and memory_manager is not None and any(w.paused_at_end for w in memory_manager.workers):
        error = f"{error}: {paused_note(memory_manager, timeout_s)}"  # why it made no progress
    # threads of this process have no nanny, so no kill line
    margin = kill_margin_percent(measured.get("timeline"), memory_manager, config.memory_limit) if config.processes \
        else None
    if not config.processes:
        notes.append("workers are threads of the memreplay process: the memory limit is not enforced (no nanny), "
                     "each worker spills and pauses on that whole process's RSS, and each per-task row measures "
                     "that one process, which every task shares")
    return CaseResult(
        id=case.id, repeat=case.repeat, workload=WorkloadRef(**workload.describe()),
        corpus=CorpusRef(**corpus.describe()), config=config, directory=str(case_dir),
        outcome=outcome, error=error, wall_time_s=wall_time_s,
        cost_gib_s=wall_time_s * config.total_memory / 2**30,  # memory reserved × time: what a bill charges
        answer_check=answer_check, oom=oom, notes=notes, cluster=cluster.record, kill_margin_percent=margin,
        borderline=outcome == "ok" and margin is not None and margin < BORDERLINE_PERCENT, **measured,
    )
