"""What a workload is: its metadata and functions, the errors it raises, and the common
one-task-per-file shape. The built-in ones are listed in :mod:`memreplay.workloads.registry`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memreplay.corpora import Corpus

__all__ = ["AnswerMismatch", "DeadlinePassed", "Workload", "WorkloadError", "name_slug", "per_file_workload"]


class WorkloadError(ValueError):
    """A workload name or ``module:function`` reference that cannot be used."""


class AnswerMismatch(AssertionError):
    """A workload computed an answer that disagrees with the corpus' ground truth."""


class DeadlinePassed(TimeoutError):
    """A workload that drives the cluster itself (``Workload.drive``) was stopped at the case's time limit."""


def _file_sizes(corpus: Corpus) -> list[int]:
    return [f.size for f in corpus.files]


def name_slug(name: str) -> str:
    """A workload's name, safe in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]", ".", name)


@dataclass(frozen=True)
class Workload:
    """A pipeline to replay.

    ``build`` turns a corpus into a Dask collection with one output partition per corpus file;
    ``task_function`` is what one task runs on one file (profiled alone, outside the cluster);
    ``input_bytes`` gives each partition's input size; ``check`` raises AnswerMismatch.
    ``version`` is bumped whenever the workload's meaning or memory behaviour changes.
    ``drive(client, corpus, timeout_s)``, where given, replaces ``build``: the workload submits
    its tasks itself (a replayed trace, streamed as it is read) and returns its answer, raising
    what the cluster raised or :class:`DeadlinePassed`.
    """

    name: str
    version: int
    description: str
    corpus_kind: str
    build: Callable[[Corpus], Any]
    task_function: Callable[[Path], Any] | None = None
    check: Callable[[Any, Corpus], None] | None = None
    input_bytes: Callable[[Corpus], list[int]] = field(default=_file_sizes)
    drive: Callable[[Any, Corpus, float | None], Any] | None = None

    @property
    def slug(self) -> str:
        """The name, safe in a file name (``pkg.mod:fn`` → ``pkg.mod.fn``,
        ``replay:traces/etl.json`` → ``replay.traces.etl.json``)."""
        return name_slug(self.name)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "corpus": self.corpus_kind}


def per_file_workload(
    *, name: str, version: int, description: str, corpus_kind: str,
    task_function: Callable[[Path], Any], check: Callable[[Any, Corpus], None] | None = None,
) -> Workload:
    """The common shape: one task per corpus file, ``task_function(path)`` each."""

    def build(corpus: Corpus) -> Any:
        import dask.bag as db

        return db.from_sequence(corpus.paths, npartitions=len(corpus.files)).map(task_function)

    return Workload(name, version, description, corpus_kind, build, task_function, check)


# The name before 0.2.0, kept for one release: the workload is no longer registered by name
# (the built-ins are an explicit map); name yours as ``package.module:attribute``.
register_per_file_workload = per_file_workload
