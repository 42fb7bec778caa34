"""Run one workload on one cluster configuration: timed, answer checked, recorded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from corpora import Corpus
from harness.cluster import local_cluster
from harness.config import ClusterConfig
from harness.outcomes import classify_failure
from harness.probes.base import Probe, ProbeContext
from harness.probes.task_memory import TaskMemoryProbe
from harness.probes.timeline import TimelineProbe
from workloads import AnswerMismatch, Workload

__all__ = ["case_id", "default_probes", "run_case"]


def case_id(workload: Workload, config: ClusterConfig) -> str:
    return f"{workload.slug}-{config.label}"


def default_probes() -> list[Probe]:
    # The timeline stops last, so its plot can mark the peaks in the finished tasks.csv.
    return [TaskMemoryProbe(), TimelineProbe()]


def run_case(
    workload: Workload, config: ClusterConfig, corpus: Corpus, case_dir: Path,
    probes: list[Probe] | None = None, timeout_s: float | None = None,
) -> dict[str, Any]:
    """Start a fresh cluster, attach the probes, compute the workload, check its answer.
    Never raises for a failure of the workload itself (an error, running out of memory,
    passing ``timeout_s``): that is the case's outcome."""
    probes = default_probes() if probes is None else probes
    context = ProbeContext(case_dir, workload.input_bytes(corpus))
    case: dict[str, Any] = {
        "id": case_dir.name,
        "workload": workload.describe(),
        "corpus": corpus.describe(),
        "config": config.describe(),
        "directory": str(case_dir),
        "outcome": None,
        "error": None,
        "wall_time_s": None,
        "answer_check": "not checked",
    }
    with local_cluster(config) as (cluster, client):
        for probe in probes:
            probe.start(cluster, context)
        started = time.perf_counter()
        try:
            answer = client.compute(workload.build(corpus)).result(timeout=timeout_s)
        except Exception as error:  # the workload (or a user's build) failed: record it, go on
            case.update(classify_failure(error, cluster.scheduler))
            answer = None
        case["wall_time_s"] = round(time.perf_counter() - started, 4)
        # what a cloud bill charges: memory reserved × time
        case["cost_gib_s"] = round(case["wall_time_s"] * config.total_memory / 2**30, 3)
        for probe in probes:
            case[probe.name] = probe.stop()
    if case["outcome"] == "oom":
        _name_the_running_task(case)
    if case["outcome"] is None:
        case["outcome"] = "ok"
        if workload.check is not None:
            try:
                workload.check(answer, corpus)
                case["answer_check"] = "passed"
            except AnswerMismatch as mismatch:
                case.update(outcome="error", answer_check="failed", error=f"answer mismatch: {mismatch}")
    return case


def _name_the_running_task(case: dict[str, Any]) -> None:
    """dask's KilledWorker names a task it lost, possibly one only queued on the worker; the
    per-task probe knows which one was executing when the worker was killed."""
    died = [row for row in (case.get("task_memory") or {}).get("worker_died", [])
            if row["worker"] == case["oom"]["worker"]]
    if died:
        case["oom"].update(task=died[0]["task_key"], task_prefix=died[0]["task_prefix"])
