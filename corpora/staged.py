"""A corpus as the workers see it: no path of the driver's machine reaches a task.

A task gets a :class:`WorkerPath` (kind, scale, seed, file name, sha256) instead of a driver path.
Before a case, every worker stages the corpus with :func:`stage_corpus`: it finds the files in
its own cache, or generates them from the seed, and checks each one's sha256 against the
driver's manifest. On the worker the WorkerPath then resolves (``os.fspath``, ``open``,
``np.load``, ``str``, or any ``pathlib.Path`` attribute) to that worker's verified copy.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from memreplay.corpora.manifest import Corpus, CorpusFile
from memreplay.corpora.store import CorpusError, corpus_directory, ensure_corpus

__all__ = ["CORPORA_ENV", "StagedCorpus", "WorkerPath", "default_worker_cache", "stage_corpus", "staged_root"]

CORPORA_ENV = "MEMREPLAY_CORPORA"  # where a process keeps its corpora, if set
_StageKey = tuple[str, float, int, int]  # kind, scale, seed, generator version
_STAGED: dict[_StageKey, Path] = {}  # what this process has staged, and where


def default_worker_cache() -> Path:
    """A worker's corpus cache: ``$MEMREPLAY_CORPORA`` on that worker, else its temp directory."""
    return Path(os.environ.get(CORPORA_ENV) or Path(tempfile.gettempdir()) / "memreplay-corpora")


def _key(corpus: Corpus | WorkerPath) -> _StageKey:
    return corpus.kind, corpus.scale, corpus.seed, corpus.generator_version


def staged_root(key: _StageKey) -> Path:
    try:
        return _STAGED[key]
    except KeyError:
        kind, scale, seed, _ = key
        raise CorpusError(f"the {kind} corpus (scale {scale:g}, seed {seed}) is not staged in this process: "
                          "memreplay stages it on every worker before a case starts") from None


@dataclass(frozen=True)
class WorkerPath(os.PathLike):  # type: ignore[type-arg]
    """One corpus file, named so that any process can find (or make) its own verified copy."""

    kind: str
    scale: float
    seed: int
    generator_version: int
    name: str
    sha256: str

    def local(self) -> Path:
        """This process's verified copy (the corpus must be staged here)."""
        return staged_root(_key(self)) / self.name

    def __fspath__(self) -> str:
        return str(self.local())

    def __str__(self) -> str:
        return self.__fspath__()

    def __getattr__(self, attribute: str) -> Any:
        # stat(), read_text(), suffix ...: whatever a task does with a pathlib.Path
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return getattr(self.local(), attribute)

    def __dask_tokenize__(self) -> Any:
        return (type(self).__name__, self.kind, self.scale, self.seed, self.generator_version, self.name, self.sha256)


@dataclass(frozen=True)
class StagedCorpus(Corpus):
    """The corpus a workload builds its graph from: its paths are :class:`WorkerPath` objects."""

    @classmethod
    def of(cls, corpus: Corpus) -> StagedCorpus:
        return cls(**{field.name: getattr(corpus, field.name) for field in fields(Corpus)})

    def path(self, file: CorpusFile) -> WorkerPath:  # type: ignore[override]
        return WorkerPath(self.kind, self.scale, self.seed, self.generator_version, file.name, file.sha256)


def stage_corpus(kind: str, scale: float, seed: int, generator_version: int, sha256: dict[str, str],
                 cache: Path | None = None, on_generate: Callable[[str], None] | None = None,
                 verified: dict[str, int] | None = None) -> Path:
    """Make this process's copy of a corpus the driver described (``sha256`` by file name):
    found in ``cache`` (default :func:`default_worker_cache`) or generated from the seed, each
    file's sha256 checked against the driver's. ``verified`` (sizes by file name): the driver
    has just checked these files in ``cache`` itself (memreplay's own local workers share its
    cache), so files of those sizes are not hashed again. Returns the corpus directory."""
    cache = default_worker_cache() if cache is None else Path(cache)
    if verified is not None:
        root = corpus_directory(cache, kind, scale, seed).resolve()
        if all(_size(root / name) == size for name, size in verified.items()):
            _STAGED[(kind, scale, seed, generator_version)] = root
            return root
    corpus = ensure_corpus(kind, scale, cache, seed, on_generate)
    if corpus.generator_version != generator_version:
        raise CorpusError(f"{corpus.root}: this process generates {kind} corpora with generator version "
                          f"{corpus.generator_version}, the driver's manifest has {generator_version}: "
                          "install the same memreplay on every worker")
    have = {file.name: file.sha256 for file in corpus.files}
    for name, expected in sha256.items():
        if have.get(name) != expected:
            found = "no such file" if name not in have else f"sha256 {have[name][:12]}…"
            raise CorpusError(f"{corpus.root / name}: {found} here, the driver's manifest says sha256 "
                              f"{expected[:12]}…")
    _STAGED[_key(corpus)] = corpus.root.resolve()
    return corpus.root.resolve()


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None
