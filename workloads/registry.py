"""Workload metadata, the built-in registry, and resolution of ``package.module:function``."""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpora import Corpus

__all__ = [
    "AnswerMismatch",
    "DeadlinePassed",
    "Workload",
    "WorkloadError",
    "register_per_file_workload",
    "registered_workloads",
    "resolve_workload",
]


class WorkloadError(ValueError):
    """A workload name or ``module:function`` reference that cannot be used."""


class AnswerMismatch(AssertionError):
    """A workload computed an answer that disagrees with the corpus' ground truth."""


class DeadlinePassed(TimeoutError):
    """A workload that drives the cluster itself (``Workload.drive``) was stopped at the case's time limit."""


def _file_sizes(corpus: Corpus) -> list[int]:
    return [f.size for f in corpus.files]


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
        return re.sub(r"[^A-Za-z0-9_.-]", ".", self.name)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "corpus": self.corpus_kind}


_REGISTRY: dict[str, Workload] = {}


def register_per_file_workload(
    *, name: str, version: int, description: str, corpus_kind: str,
    task_function: Callable[[Path], Any], check: Callable[[Any, Corpus], None] | None = None,
) -> Workload:
    """Register the common shape: one task per corpus file, ``task_function(path)`` each."""

    def build(corpus: Corpus) -> Any:
        import dask.bag as db

        return db.from_sequence(corpus.paths, npartitions=len(corpus.files)).map(task_function)

    workload = Workload(name, version, description, corpus_kind, build, task_function, check)
    _REGISTRY[name] = workload
    return workload


def registered_workloads() -> dict[str, Workload]:
    _load_builtins()
    return dict(_REGISTRY)


def resolve_workload(reference: str) -> Workload:
    """A registered name, ``replay:TRACE`` (a recorded pipeline), or ``package.module:function``
    naming a Workload or a plain ``build(corpus)`` function (then run on the text corpus, its
    answer unchecked)."""
    if reference.startswith("replay:"):
        from workloads.replay import replay_workload
        from workloads.trace import TraceError

        try:
            return replay_workload(reference)
        except TraceError as error:
            raise WorkloadError(str(error)) from None
    builtins = registered_workloads()
    if reference in builtins:
        return builtins[reference]
    if ":" not in reference:
        raise WorkloadError(
            f"unknown workload {reference!r} (known: {', '.join(sorted(builtins))};"
            " or give package.module:function)"
        )
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import-time failure is the user's module, not ours
        raise WorkloadError(f"cannot import {module_name!r} for workload {reference!r}: {error}") from None
    except SystemExit as exit_:  # a script with a sys.exit() at import, not a library
        raise WorkloadError(f"cannot import {module_name!r} for workload {reference!r}: it called "
                            f"sys.exit({exit_.code!r}) at import") from None
    target = getattr(module, attribute, None)
    if isinstance(target, Workload):
        # named by its reference, so a record's name is what resolves it again (e.g. under Fil)
        return dataclasses.replace(target, name=reference)
    if callable(target):
        return Workload(reference, 0, f"user workload {reference}", "text", target)
    raise WorkloadError(f"{reference!r}: module {module_name!r} has no function {attribute!r}")


def _load_builtins() -> None:
    # Importing the modules registers their workloads.
    from workloads import wordcount, imagechunks  # noqa: F401,I001
