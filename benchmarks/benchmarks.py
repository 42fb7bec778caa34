"""Thin asv benchmarks: each calls the harness and tracks a number it measured.

asv's own ``peakmem_`` sees only the benchmark process, not Dask's workers, so memory is
tracked with ``track_`` benchmarks returning the harness's figures.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from corpora import ensure_corpus
from harness.execute.runner import run_case
from harness.plan.cluster_config import ClusterConfig
from harness.plan.matrix import Case
from workloads import resolve_workload

SCALE = 0.05


class WordCount:
    timeout = 300

    def setup_cache(self) -> str:
        directory = tempfile.mkdtemp(prefix="memreplay-asv-")
        ensure_corpus("text", SCALE, Path(directory))
        return directory

    def track_wordcount_streaming_wall_time(self, directory: str) -> float:
        corpus = ensure_corpus("text", SCALE, Path(directory))
        config = ClusterConfig(n_workers=1, threads_per_worker=1, memory_limit=2**30)
        case_dir = Path(tempfile.mkdtemp(prefix="memreplay-asv-case-"))
        result = run_case(Case(resolve_workload("wordcount-streaming"), config), corpus, case_dir)
        if result.outcome != "ok":
            raise RuntimeError(result.error)
        return result.wall_time_s

    track_wordcount_streaming_wall_time.unit = "seconds"
