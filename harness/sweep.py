"""Run every case of a matrix, each in a fresh cluster, into one run directory; resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpora import Corpus, ensure_corpus
from harness.errors import UserError
from harness.matrix import Matrix
from harness.model import fit_peak_model
from harness.probes.task_memory_csv import read_task_rows
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
    return record


def sweep_model(record: RunRecord) -> dict[str, Any]:
    """The sizing model from every finished case's per-task rows."""
    rows: list[dict[str, Any]] = []
    for case in record.cases:
        memory = case.get("task_memory")
        if case["outcome"] == "ok" and memory:
            rows += read_task_rows(record.directory / "cases" / case["id"] / memory["csv"])
    return fit_peak_model(rows)
