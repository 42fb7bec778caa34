"""Run every case of a matrix, each in a fresh cluster, into one run directory; resumable.
After the cases: the sizing model fitted on their tasks. (The studies a matrix asks for after
its cases, size ladders and Fil profiles, are run by the sweep kind, above both rooms.)"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memreplay.analysis.model import fit_peak_model
from memreplay.analysis.replay_fidelity import replay_fidelity
from memreplay.corpora import Corpus, ensure_corpus
from memreplay.errors import UserError
from memreplay.execute.cluster import check_running
from memreplay.execute.progress import Progress
from memreplay.execute.runner import run_case
from memreplay.plan.matrix import Matrix
from memreplay.records.schema import MatrixSettings, PlannedCase, SweepRecord, SweepSettings, SweepSummary
from memreplay.records.store import RunDirectory, new_record_fields
from memreplay.records.task_rows import TaskRow, iter_task_rows
from memreplay.workloads.replay import REPLAY_PREFIX

__all__ = ["SweepInterrupted", "finished_rows", "interrupted_in", "matrix_settings", "run_sweep", "say_generating"]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep whose run directory exists: where to ``--resume`` it."""

    def __init__(self, directory: Path) -> None:
        super().__init__(str(directory))
        self.directory = directory


def matrix_settings(matrix: Matrix) -> MatrixSettings:
    return MatrixSettings(
        source=matrix.source, scale=matrix.scale, repeats=matrix.repeats, timeout_s=matrix.timeout_s,
        fil_profiles=matrix.fil_profiles, size_ladder=matrix.size_ladder, ladder_repeats=matrix.ladder_repeats,
        cluster=matrix.cluster,
        cases=[PlannedCase(id=c.id, workload=c.workload.name, workload_version=c.workload.version, repeat=c.repeat,
                           config=c.config) for c in matrix.cases],
    )


def _reopen(matrix: Matrix, resume: str) -> RunDirectory[SweepRecord]:
    run = RunDirectory.reopen(resume, SweepRecord)
    before, settings = run.record.settings.matrix, matrix_settings(matrix)
    # the same resolved plan, wherever the matrix file now lives: every case, its configuration
    # and workload version, the scale, time limit, repeats and profiles
    differ = [field for field in MatrixSettings.__struct_fields__
              if field != "source" and getattr(before, field) != getattr(settings, field)]
    if differ:
        shown = ", ".join(f"{field} {getattr(before, field)!r} → {getattr(settings, field)!r}" if field != "cases"
                          else "its cases (workloads, versions or configurations)" for field in differ)
        raise UserError(f"run {resume} was not a sweep of this matrix: {shown}; start a new sweep")
    return run


def _corpora(matrix: Matrix, corpora: Path) -> dict[str, Corpus]:
    corpus_by_kind: dict[str, Corpus] = {}
    for case in matrix.cases:
        kind = case.workload.corpus_kind
        if kind not in corpus_by_kind:
            corpus_by_kind[kind] = ensure_corpus(kind, matrix.scale, corpora, on_generate=say_generating)
    return corpus_by_kind


def run_sweep(matrix: Matrix, results: Path, corpora: Path, resume: str | None = None,
              label: str = "sweep") -> RunDirectory[SweepRecord]:
    """Run the cases not yet in the record; the record is saved after every case, so Ctrl-C
    (KeyboardInterrupt, which propagates) keeps every finished case. Whatever can be refused
    is refused before any work: a resumed run's plan and lock, then the corpora; only then is
    a new run directory made."""
    if matrix.cluster.kind == "running":
        check_running(matrix.cluster, [case.config for case in matrix.cases])
    if resume is not None:
        run = _reopen(matrix, resume)
        with interrupted_in(run), run.exclusive():  # refused while another process holds it, before any work
            _run_pending(run, matrix, _corpora(matrix, corpora))
        return run
    corpus_by_kind = _corpora(matrix, corpora)
    record = SweepRecord(settings=SweepSettings(matrix=matrix_settings(matrix)), **new_record_fields())
    run = RunDirectory.create(results, label, record)
    with interrupted_in(run), run.exclusive():
        _run_pending(run, matrix, corpus_by_kind)
    return run


@contextmanager
def interrupted_in(run: RunDirectory[SweepRecord]) -> Iterator[None]:
    """Ctrl-C as :class:`SweepInterrupted`, naming the run to resume."""
    try:
        yield
    except KeyboardInterrupt:
        raise SweepInterrupted(run.directory) from None


def _run_pending(run: RunDirectory[SweepRecord], matrix: Matrix, corpus_by_kind: dict[str, Corpus]) -> None:
    finished = {case.id for case in run.record.cases}
    pending = [case for case in matrix.cases if case.id not in finished]
    progress = Progress(len(pending)) if len(matrix.cases) > 1 else None
    for case in pending:
        if progress:
            progress.case(case.id)
        result = run_case(case, corpus_by_kind[case.workload.corpus_kind], run.case_directory(case.id),
                          timeout_s=matrix.timeout_s, source=matrix.cluster)
        if case.workload.name.startswith(REPLAY_PREFIX) and result.task_memory is not None:
            result.fidelity = replay_fidelity(Path(case.workload.name.removeprefix(REPLAY_PREFIX)),
                                              iter_task_rows(Path(result.directory) / result.task_memory.csv),
                                              case.config, result.outcome,
                                              None if result.memory_manager is None else
                                              result.memory_manager.disk_write_bytes)
        run.record.cases.append(result)
        run.save()
        if progress:
            progress.advance()
    if progress:
        progress.finish()
    run.record.summary = SweepSummary(model=fit_peak_model(finished_rows(run)))
    run.save()


def finished_rows(run: RunDirectory[SweepRecord], workload: str | None = None) -> list[TaskRow]:
    """The per-task rows of every case that finished ``ok`` (of one workload, if given)."""
    rows: list[TaskRow] = []
    for case in run.record.cases:
        if case.outcome == "ok" and case.task_memory and workload in (None, case.workload.name):
            rows += iter_task_rows(run.directory / "cases" / case.id / case.task_memory.csv)
    return rows


def say_generating(name: str) -> None:
    print(f"generating corpus file {name}", file=sys.stderr)
