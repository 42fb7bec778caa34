"""Stage a case's corpus on every worker, including workers that join during the case, before
any task runs: no task reads a path that exists only on the driver's machine."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from memreplay.corpora import Corpus
from memreplay.corpora.staged import StagedCorpus, stage_corpus
from memreplay.errors import UserError

__all__ = ["CorpusStaging", "stage_on_workers"]


class CorpusStaging(WorkerPlugin):
    """Finds the corpus in the worker's cache (``cache``, else ``$MEMREPLAY_CORPORA`` there, else
    its temp directory) or generates it from the seed, and checks every sha256 against the
    driver's manifest. A worker that cannot fails its setup with the reason."""

    idempotent = False

    def __init__(self, corpus: Corpus, cache: str | None = None, shared: bool = False) -> None:
        self.name = f"memreplay-corpus-{corpus.kind}"
        self.kind, self.scale, self.seed = corpus.kind, corpus.scale, corpus.seed
        self.generator_version = corpus.generator_version
        self.sha256 = {file.name: file.sha256 for file in corpus.files}
        self.cache = cache
        # the driver's own cache, which it has just verified: sizes are checked, not hashes
        self.verified = {file.name: file.size for file in corpus.files} if shared else None

    async def setup(self, worker: Any) -> None:
        # in a thread: hashing (or generating) hundreds of MiB must not stall the worker's heartbeats
        self.root = await asyncio.to_thread(stage_corpus, self.kind, self.scale, self.seed, self.generator_version,
                                            self.sha256, None if self.cache is None else Path(self.cache),
                                            verified=self.verified)


def stage_on_workers(client: Any, corpus: Corpus, shared_cache: Path | None) -> StagedCorpus:
    """Stage ``corpus`` on every worker of ``client``'s cluster, now and as they join; returns the
    corpus to build the graph from. ``shared_cache``: the driver's corpus cache, which the
    workers share (memreplay's own local workers) and which the driver has just verified; None:
    each worker uses its own cache and checks every file."""
    plugin = CorpusStaging(corpus, None if shared_cache is None else str(shared_cache.resolve()),
                           shared=shared_cache is not None)
    try:
        client.register_plugin(plugin)
    except Exception as error:  # a worker that cannot make the corpus: no case can run there
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise UserError(f"the {corpus.kind} corpus could not be staged on every worker: {reason}") from None
    return StagedCorpus.of(corpus)
