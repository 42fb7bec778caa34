"""Stage a case's corpus on every worker, including workers that join during the case, before
any task runs: no task reads a path that exists only on the driver's machine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from corpora import Corpus
from corpora.staged import StagedCorpus, stage_corpus

__all__ = ["CorpusStaging", "stage_on_workers"]


class CorpusStaging(WorkerPlugin):
    """Finds the corpus in the worker's cache (``cache``, else ``$MEMREPLAY_CORPORA`` there, else
    its temp directory) or generates it from the seed, and checks every sha256 against the
    driver's manifest. A worker that cannot fails its setup with the reason."""

    idempotent = False

    def __init__(self, corpus: Corpus, cache: str | None = None) -> None:
        self.name = f"memreplay-corpus-{corpus.kind}"
        self.kind, self.scale, self.seed = corpus.kind, corpus.scale, corpus.seed
        self.generator_version = corpus.generator_version
        self.sha256 = {file.name: file.sha256 for file in corpus.files}
        self.cache = cache

    async def setup(self, worker: Any) -> None:
        # in a thread: hashing (or generating) hundreds of MiB must not stall the worker's heartbeats
        self.root = await asyncio.to_thread(stage_corpus, self.kind, self.scale, self.seed, self.generator_version,
                                            self.sha256, None if self.cache is None else Path(self.cache))


def stage_on_workers(client: Any, corpus: Corpus, cache: Path | None) -> StagedCorpus:
    """Stage ``corpus`` on every worker of ``client``'s cluster, now and as they join; returns the
    corpus to build the graph from. ``cache``: the workers' corpus cache where memreplay knows it
    (its own local workers share the driver's), else each worker's default."""
    client.register_plugin(CorpusStaging(corpus, None if cache is None else str(cache.resolve())))
    return StagedCorpus.of(corpus)
