"""The per-task collector in process (no cluster): what it keeps in the scheduler once rows are
written, rows reaching the file within FLUSH_S on the event loop, the partitions' input sizes,
aliases marked once, and the start message of a task whose worker died."""

from __future__ import annotations

import asyncio
from pathlib import Path

from memreplay.probes.task_memory import FLUSH_S, TaskMemoryCollector
from memreplay.probes.task_memory_worker import STOP_FIELDS
from memreplay.records.task_rows import read_task_rows

ROWS = 10_000


def _row(key: str, index: int | None = None, input_bytes: int = 0) -> list:
    stop = {"key": key, "name": key, "index": index, "start": 1.0, "stop": 1.002, "baseline": 80 * 2**20,
            "peak": 81 * 2**20, "increase": 2**20, "input_bytes": input_bytes, "output_bytes": 28, "concurrent": 1,
            "arrived": 0, "method": "clear_refs", "state": "memory"}
    return [stop[field] for field in STOP_FIELDS]


def test_the_collector_keeps_nothing_per_row_once_written(tmp_path: Path) -> None:
    collector = TaskMemoryCollector(tmp_path / "tasks.csv")
    empty = collector.held_bytes()
    collector.input_hints = [1_000 + i for i in range(ROWS)]  # 8 bytes a partition
    hints = collector.held_bytes() - empty
    assert hints < 9 * ROWS
    collector._aliases |= {f"tiny-{i}" for i in range(0, ROWS, 10)}
    for i in range(ROWS):
        collector.handle_stop("tcp://127.0.0.1:1", _row(f"tiny-{i}", index=i))
    assert collector.held_bytes() - empty - hints < 2_000  # the aliases forgotten with their rows
    collector.close_file()
    rows = read_task_rows(tmp_path / "tasks.csv")
    assert len(rows) == ROWS and sum(row.alias for row in rows) == ROWS // 10
    assert rows[7].input_bytes == 1_007 and rows[7].task_prefix == "tiny"  # the partition's own input size


def test_rows_reach_the_file_within_the_flush_interval_on_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "tasks.csv"

    async def scheduler() -> tuple[int, int]:
        collector = TaskMemoryCollector(path)
        for i in range(5):
            collector.handle_stop("tcp://127.0.0.1:1", _row(f"tiny-{i}"))
        written_at_once = len(read_task_rows(path))
        await asyncio.sleep(FLUSH_S + 0.3)  # no more rows come: the timer still flushes them
        written_later = len(read_task_rows(path))
        collector.close_file()
        return written_at_once, written_later

    at_once, later = asyncio.run(scheduler())
    assert at_once == 0 and later == 5  # buffered, not a write per row; then on disk, the file still open


def test_a_task_whose_worker_died_gets_its_row_from_its_start_message(tmp_path: Path) -> None:
    collector = TaskMemoryCollector(tmp_path / "tasks.csv")
    collector.handle_start("tcp://127.0.0.1:1", key="('big', 3)", name="big", start=1.0, baseline=80 * 2**20)
    collector.handle_stop("tcp://127.0.0.1:1", _row("small-1"))
    collector._killed_at["tcp://127.0.0.1:1"] = 900 * 2**20
    collector.remove_worker(scheduler=None, worker="tcp://127.0.0.1:1")
    collector.close_file()
    died = next(row for row in read_task_rows(tmp_path / "tasks.csv") if row.task_key == "('big', 3)")
    assert (died.state, died.method, died.peak_bytes, died.baseline_bytes) == ("worker-died", "nanny", 900 * 2**20,
                                                                               80 * 2**20)
    assert collector.held_bytes() < 2_000


def test_rows_keep_their_order_when_a_worker_dies_before_the_flush(tmp_path: Path) -> None:
    path = tmp_path / "tasks.csv"

    async def scheduler() -> list[str]:
        collector = TaskMemoryCollector(path)
        empty = collector.held_bytes()
        collector.handle_start("tcp://127.0.0.1:1", key="('big', 3)", name="big", start=1.0, baseline=80 * 2**20)
        for i in range(3):  # kept for the flush, not written as they come
            collector.handle_stop("tcp://127.0.0.1:1", _row(f"small-{i}"))
        assert collector.held_bytes() > empty + 3 * 100 and len(read_task_rows(path)) == 0
        collector.remove_worker(scheduler=None, worker="tcp://127.0.0.1:1")  # before the timer fires
        collector.close_file()
        return [row.task_key for row in read_task_rows(path)]

    assert asyncio.run(scheduler()) == ["small-0", "small-1", "small-2", "('big', 3)"]


def test_a_malformed_stop_message_loses_its_own_row_only(tmp_path: Path) -> None:
    collector = TaskMemoryCollector(tmp_path / "tasks.csv")

    async def scheduler() -> None:
        collector.handle_stop("tcp://127.0.0.1:1", _row("small-0"))
        collector.handle_stop("tcp://127.0.0.1:1", ["small-1", "small"])  # two fields, not STOP_FIELDS
        collector.handle_stop("tcp://127.0.0.1:1", _row("small-2"))
        collector.close_file()

    asyncio.run(scheduler())
    assert [row.task_key for row in read_task_rows(tmp_path / "tasks.csv")] == ["small-0", "small-2"]
