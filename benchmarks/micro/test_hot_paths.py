"""pytest-benchmark timings of the harness's own hot paths (``nox -s bench-micro``).

Run by ``nox -s bench-micro``, never by the test suite: figures are for comparing runs made on
one machine (``--benchmark-compare-fail=mean:10%`` against a saved baseline), not assertions.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from memreplay.corpora import ensure_corpus
from memreplay.probes.task_memory import TaskMemoryCollector
from memreplay.probes.task_memory_worker import STOP_FIELDS, TaskMemoryWorkerPlugin
from memreplay.studies.fil import parse_folded_stacks, top_lines
from memreplay.workloads import registered_workloads

SCALE = 0.02


def _a_worker() -> Any:
    """What the worker plugin reads from its worker: task states and the batched stream. The
    measured code (peak meter syscalls, message building) is the real one."""
    sent: list[dict[str, Any]] = []
    loop = SimpleNamespace(asyncio_loop=asyncio.new_event_loop())  # timers scheduled, never run
    return SimpleNamespace(state=SimpleNamespace(tasks={}, transfer_incoming_bytes=0), batched_send=sent.append,
                           sent=sent, loop=loop)


def test_one_task_boundary(benchmark: Any) -> None:
    """Start and stop of one task in the per-task probe's worker plugin: what every task pays."""
    plugin = TaskMemoryWorkerPlugin()
    worker = _a_worker()
    plugin.setup(worker)

    def boundary() -> None:
        plugin.transition(("tiny-abc", 0), "ready", "executing")
        plugin.transition(("tiny-abc", 0), "executing", "memory")

    benchmark(boundary)
    plugin.teardown(worker)
    assert worker.sent and worker.sent[-1]["op"] == "memreplay-task-stop"


def test_one_csv_row_written(benchmark: Any, tmp_path: Path) -> None:
    """A stop message handled by the collector in the scheduler and its row written, as the flush
    writes it (into the file's buffer): one row of tasks.csv."""
    collector = TaskMemoryCollector(tmp_path / "tasks.csv")
    stop = {"key": "('tiny-abc', 0)", "name": "tiny-abc", "index": 0, "start": 1.0, "stop": 1.002,
            "baseline": 80 * 2**20, "peak": 90 * 2**20, "increase": 10 * 2**20, "input_bytes": 1000,
            "output_bytes": 28, "concurrent": 1, "arrived": 0, "method": "clear_refs", "state": "memory"}
    row = [stop[field] for field in STOP_FIELDS]

    def handled_and_written() -> None:
        collector.handle_stop("tcp://127.0.0.1:1", row)
        collector._write_stops()

    async def on_the_event_loop() -> None:  # as in the scheduler: the buffer flushed by a timer
        benchmark(handled_and_written)

    asyncio.run(on_the_event_loop())
    collector.close_file()


@pytest.mark.parametrize("kind", ["text", "images"])
def test_corpus_generation(benchmark: Any, tmp_path: Path, kind: str) -> None:
    """A whole corpus at scale 0.02, generated and checksummed (its bytes/s in ``extra_info``)."""
    caches = iter(range(10**6))
    corpus = benchmark.pedantic(lambda: ensure_corpus(kind, SCALE, tmp_path / str(next(caches))), rounds=3)
    benchmark.extra_info["bytes"] = corpus.total_bytes


def test_prof_parsing(benchmark: Any, tmp_path: Path) -> None:
    """Fil's folded stacks: 20,000 stacks of 12 frames, parsed and attributed to lines."""
    frames = ";".join(f"/src/module{depth}.py:{depth * 10} (function{depth})" for depth in range(12))
    prof = tmp_path / "peak-memory.prof"
    prof.write_text("".join(f"{frames};/src/leaf.py:{i % 500} (leaf) {1000 + i}\n" for i in range(20_000)))
    benchmark(lambda: top_lines(parse_folded_stacks(prof), focus="/src"))


@pytest.mark.parametrize("name", sorted(registered_workloads()))
def test_task_function(benchmark: Any, tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    """Each workload's task function on its corpus's largest file at scale 0.02."""
    workload = registered_workloads()[name]
    corpus = ensure_corpus(workload.corpus_kind, SCALE, Path(os.environ.get("MEMREPLAY_CORPORA",
                                                                           tmp_path_factory.getbasetemp())))
    largest = max(corpus.files, key=lambda f: f.size)
    benchmark(workload.task_function, corpus.path(largest))
