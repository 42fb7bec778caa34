"""Exact per-task peak memory for Dask, a drop-in successor to dask-memusage.

Python::

    from memreplay.memusage import install
    install(cluster.scheduler, "memusage.csv")

Command line::

    dask scheduler --preload memreplay.memusage --memusage-csv memusage.csv

Each task execution gets one CSV row; the first three columns are dask-memusage's
(``task_key,min_memory_mb,max_memory_mb``), then prefix, worker, times, bytes, concurrency,
method and state (see docs/how-to/per-task-memory.md). Limits: peak is RSS of the whole worker process; with several
threads per worker, tasks running at once share it, so each row is an upper bound for its task
(``concurrent_tasks`` says when). On Linux the peak is exact (``/proc/self/clear_refs``);
elsewhere a 2 ms sampling thread may miss shorter peaks (``method`` says which).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from memreplay.probes.task_memory import TaskMemoryCollector, install_collector

__all__ = ["install"]


def install(scheduler: Any, csv_path: str | Path, method: str = "auto") -> TaskMemoryCollector:
    """Record the peak memory of every task run on ``scheduler``'s workers into ``csv_path``."""
    return install_collector(scheduler, csv_path, method)


@click.command()
@click.option("--memusage-csv", default="memusage.csv", help="where to write the per-task CSV")
@click.option("--memusage-method", default="auto", type=click.Choice(["auto", "clear_refs", "sampling"]))
def dask_setup(scheduler: Any, memusage_csv: str, memusage_method: str) -> None:
    try:
        install(scheduler, memusage_csv, memusage_method)
    except OSError as error:
        # distributed logs a failing preload and serves on; a scheduler that records nothing
        # while it looks healthy is worse than one that does not start
        # (os._exit: distributed turns an exception here into a log line, SystemExit into a traceback)
        print(f"memreplay: error: --memusage-csv {memusage_csv}: {error.strerror or error}", file=sys.stderr,
              flush=True)
        os._exit(2)
