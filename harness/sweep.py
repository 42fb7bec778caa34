"""Run every case of a matrix, each in a fresh cluster, into one run directory; resumable."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from corpora import Corpus, ensure_corpus
from harness.errors import UserError
from harness.filprofile import profile_task
from harness.matrix import Matrix
from harness.model import fit_peak_model
from harness.probes.task_memory_csv import parse_task_key, read_task_rows
from harness.progress import Progress
from harness.records import RunRecord
from harness.runner import run_case

__all__ = ["run_sweep", "sweep_model"]


def _open_record(matrix: Matrix, results: Path, resume: str | None) -> RunRecord:
    if resume is None:
        return RunRecord.create(results, "sweep", "sweep", {"matrix": matrix.describe()})
    record = RunRecord.reopen(resume)
    planned = [case["id"] for case in record.settings.get("matrix", {}).get("cases", [])]
    if record.kind != "sweep" or planned != [case.id for case in matrix.cases]:
        raise UserError(f"run {resume} was not a sweep of this matrix (its cases differ); start a new sweep")
    return record


def run_sweep(matrix: Matrix, results: Path, corpora: Path, resume: str | None = None) -> RunRecord:
    """Run the cases not yet in the record; the record is saved after every case, so Ctrl-C
    (KeyboardInterrupt, which propagates) keeps every finished case."""
    record = _open_record(matrix, results, resume)
    finished = {case["id"] for case in record.cases}
    pending = [case for case in matrix.cases if case.id not in finished]
    corpus_by_kind: dict[str, Corpus] = {}
    for case in pending:
        kind = case.workload.corpus_kind
        if kind not in corpus_by_kind:
            corpus_by_kind[kind] = ensure_corpus(kind, matrix.scale, corpora)
    progress = Progress(len(pending))
    for case in pending:
        progress.case(case.id)
        result = run_case(case.workload, case.config, corpus_by_kind[case.workload.corpus_kind],
                          record.case_directory(case.id), timeout_s=matrix.timeout_s)
        result.update(id=case.id, repeat=case.repeat)
        record.add_case(result)
        progress.advance()
    progress.finish()
    record.summary = {"model": sweep_model(record)}
    record.save()
    if matrix.profile:
        record.summary["profiles"] = profile_hungriest_tasks(record, matrix, corpora)
        record.save()
    return record


def _finished_rows(record: RunRecord, workload: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for case in record.cases:
        memory = case.get("task_memory")
        if case["outcome"] == "ok" and memory and workload in (None, case["workload"]["name"]):
            rows += read_task_rows(record.directory / "cases" / case["id"] / memory["csv"])
    return rows


def profile_hungriest_tasks(record: RunRecord, matrix: Matrix, corpora: Path) -> list[dict[str, Any]]:
    """Once per workload, Fil on the input of the task that peaked highest in the sweep
    (its partition index names the corpus file), else on the largest input."""
    profiles = []
    for workload in dict.fromkeys(case.workload for case in matrix.cases):
        corpus = ensure_corpus(workload.corpus_kind, matrix.scale, corpora)
        chosen = max(corpus.files, key=lambda f: f.size)
        # tasks that ran alone in their worker: a row with neighbours may carry their memory
        measured = [(row["peak_increase_bytes"], parse_task_key(row["task_key"])[1])
                    for row in _finished_rows(record, workload.name)
                    if row["peak_increase_bytes"] is not None and row["concurrent_tasks"] == 1]
        indexed = [(peak, index) for peak, index in measured if index is not None and index < len(corpus.files)]
        if indexed:
            chosen = corpus.files[max(indexed)[1]]
        print(f"profiling {workload.name} on {chosen.name} under Fil ...", file=sys.stderr)
        profiles.append(profile_task(workload.name, corpus.path(chosen), record.directory / "profiles" / workload.slug,
                                     timeout=matrix.timeout_s))
    return profiles


def sweep_model(record: RunRecord) -> dict[str, Any]:
    """The sizing model from every finished case's per-task rows."""
    return fit_peak_model(_finished_rows(record))
