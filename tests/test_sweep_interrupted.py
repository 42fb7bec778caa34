"""Sweeps and runs stopped part-way: a memreplay process Ctrl-C'd, then --resume runs only the
missing cases; a hanging case stopped at its timeout; a second process refused a run the first
is writing; memreplay killed with -9 leaves no scheduler or worker behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from memreplay.records.task_rows import read_task_rows
from tests.helpers.cli import INTERRUPTIBLE, MEMREPLAY, TEST_SCALE, assert_one_line_error, write_matrix


@pytest.mark.slow
def test_resume_after_ctrl_c_runs_only_missing_cases(cli, tmp_path: Path, corpus_cache: Path) -> None:
    matrix = write_matrix(tmp_path, f"""
[matrix]
workloads = ["wordcount-streaming"]
shapes = [[1, 1], [1, 2], [2, 1]]
memory_limits = ["1GiB"]
scale = {TEST_SCALE}
size_ladder = false
fil_profiles = false
""")
    process = subprocess.Popen([MEMREPLAY, "sweep", str(matrix), "--results", str(tmp_path), "--corpora",
                                str(corpus_cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               **INTERRUPTIBLE)
    deadline = time.monotonic() + 300
    record_path = None
    while time.monotonic() < deadline:
        found = list(tmp_path.glob("runs/*/run.json"))
        if found and json.loads(found[0].read_text())["cases"]:
            record_path = found[0]
            break
        time.sleep(0.2)
    assert record_path is not None, "the first case never finished"
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: memreplay and every process it started
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert f"with --resume {record_path.parent}" in stderr  # the run to finish, named
    assert "Traceback" not in stderr, stderr  # the workers and the scheduler leave the interrupt to memreplay
    kept = load_record(record_path, SweepRecord).cases
    assert 1 <= len(kept) < 3
    result = cli("sweep", str(matrix), "--resume", str(record_path.parent), "--results", str(tmp_path),
                 "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    cases = load_record(record_path, SweepRecord).cases
    assert [c.id for c in cases] == ["wordcount-streaming-1x1-1GiB-r0", "wordcount-streaming-1x2-1GiB-r0",
                                        "wordcount-streaming-2x1-1GiB-r0"]
    assert cases[: len(kept)] == kept  # finished cases were kept, not rerun


@pytest.mark.slow
def test_a_hanging_case_is_stopped_and_recorded_as_timeout(cli, tmp_path: Path, corpus_cache: Path) -> None:
    started = time.monotonic()
    result = cli("run", "tests.helpers.sweep_workloads:hangs", "--workers", "1", "--timeout", "3",
                 "--scale", str(TEST_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert case.outcome == "timeout" and 3 <= case.wall_time_s < 10
    # the task still executing at the deadline has its row: its start, and its worker's last RSS
    (row,) = read_task_rows(Path(case.directory) / case.task_memory.csv)
    assert row.state == "timed-out" and row.stop is None and row.baseline_bytes > 0 and row.peak_bytes > 0
    assert time.monotonic() - started < 90


@pytest.mark.slow
def test_a_second_process_writing_the_same_run_is_refused(cli, tmp_path: Path, corpus_cache: Path) -> None:
    matrix = write_matrix(tmp_path, f"""
[matrix]
workloads = ["tests.helpers.sweep_workloads:hangs", "wordcount-streaming"]
shapes = [[1, 1]]
memory_limits = ["1GiB"]
scale = {TEST_SCALE}
timeout_s = 20
fil_profiles = false
""")
    first = subprocess.Popen([MEMREPLAY, "sweep", str(matrix), "--results", str(tmp_path), "--corpora",
                              str(corpus_cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             **INTERRUPTIBLE)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("runs/*/run.json")) and time.monotonic() < deadline:
            time.sleep(0.2)
        (record,) = tmp_path.glob("runs/*/run.json")
        time.sleep(1)  # the first process holds the run while its hanging case runs
        second = cli("sweep", str(matrix), "--resume", str(record.parent), "--results", str(tmp_path))
        assert_one_line_error(second, str(record.parent), "being written by another memreplay process")
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)


@pytest.mark.slow
def test_a_killed_memreplay_leaves_no_scheduler_or_worker_running(tmp_path: Path, corpus_cache: Path) -> None:
    """kill -9 of memreplay mid-case (as the OOM killer would): its case's scheduler, a process of
    its own, is stopped by the kernel; the nanny's worker processes stop with their nanny."""
    import psutil

    process = subprocess.Popen([MEMREPLAY, "run", "tests.helpers.sweep_workloads:hangs", "--workers", "1",
                                "--timeout", "120", "--scale", str(TEST_SCALE), "--results", str(tmp_path), "--corpora",
                                str(corpus_cache)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, children = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        children = psutil.Process(process.pid).children(recursive=True)
        if any("scheduler" in " ".join(c.cmdline()) for c in children) and len(children) >= 3:
            break  # the scheduler, the nanny's worker (and the forkserver/resource tracker) are up
        time.sleep(0.2)
    assert any("scheduler" in " ".join(c.cmdline()) for c in children), [c.cmdline() for c in children]
    time.sleep(2)  # the hanging task is running
    process.kill()
    process.wait()
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [p.cmdline() for p in alive]
