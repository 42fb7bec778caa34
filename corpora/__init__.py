"""Deterministic, seeded input data for memreplay workloads.

Nothing is downloaded: every corpus is generated from a seed, described by a manifest with
each file's size and sha256, verified on every use and regenerated file by file if damaged.
"""

from memreplay.corpora.manifest import Corpus, CorpusFile
from memreplay.corpora.store import CORPUS_KINDS, DEFAULT_SEED, CorpusError, ensure_corpus

__all__ = ["CORPUS_KINDS", "DEFAULT_SEED", "Corpus", "CorpusError", "CorpusFile", "ensure_corpus"]
