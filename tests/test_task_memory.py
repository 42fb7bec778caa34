"""The per-task probe on real clusters: accuracy against ground truth, CSV compatibility,
erred tasks, dead workers, the preload path with real `dask scheduler`/`dask worker` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client

from memreplay.analysis.probe_accuracy import tolerance_bytes
from memreplay.execute.cluster import local_cluster
from memreplay.memusage import install
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.records.task_rows import COLUMNS, MEMUSAGE_COLUMNS, TaskRow, read_memusage_csv, read_task_rows
from memreplay.studies.groundtruth import MIB, allocate_and_hold
from memreplay.studies.probe_benchmark import dask_memusage_quieted, install_dask_memusage
from tests.helpers.cli import needs_clear_refs
from tests.helpers.ports import free_port
from tests.helpers.probe_tasks import exit_worker, fail

# /proc counters are per-CPU batched by the kernel; a peak can read up to this much low.
KERNEL_COUNTER_SLACK = 0.75 * MIB

TRUTH = [(1, 0.001), (5, 0.001), (50, 0.001), (200, 0.001), (1, 0.05), (20, 0.05), (120, 0.2), (300, 0.02)]


def _cluster(threads: int = 1, workers: int = 1):
    return local_cluster(ClusterConfig(n_workers=workers, threads_per_worker=threads, memory_limit=4 * 2**30))


def _run_truth(csv: Path, threads: int) -> dict[str, TaskRow]:
    with _cluster(threads) as (cluster, client):
        install(cluster.scheduler, csv)
        futures = [client.submit(allocate_and_hold, mib, s, key=f"truth-{i}") for i, (mib, s) in enumerate(TRUTH)]
        client.gather(futures)
    return {row.task_key: row for row in read_task_rows(csv)}


@needs_clear_refs
def test_every_task_within_tolerance_single_thread(tmp_path: Path) -> None:
    rows = _run_truth(tmp_path / "t1.csv", threads=1)
    for i, (mib, _) in enumerate(TRUTH):
        row = rows[f"truth-{i}"]
        truth = mib * MIB
        assert abs(row.peak_increase_bytes - truth) <= tolerance_bytes(truth), (row, truth)
        assert row.method == "clear_refs" and row.state == "memory" and row.concurrent_tasks == 1
        assert row.task_prefix == "truth"


@needs_clear_refs
def test_two_threads_rows_cover_their_own_task_and_record_overlap(tmp_path: Path) -> None:
    rows = _run_truth(tmp_path / "t2.csv", threads=2)
    assert len(rows) == len(TRUTH)
    for i, (mib, _) in enumerate(TRUTH):
        assert rows[f"truth-{i}"].peak_increase_bytes >= mib * MIB - KERNEL_COUNTER_SLACK
    assert any(row.concurrent_tasks == 2 for row in rows.values())
    # dask-memusage's columns tell the same story: max - min is the peak increase, an upper bound
    for row in rows.values():
        assert (row.max_memory_mb - row.min_memory_mb) * MIB == pytest.approx(row.peak_increase_bytes, abs=2)


def test_sampling_fallback_says_so(tmp_path: Path) -> None:
    with _cluster() as (cluster, client):
        install(cluster.scheduler, tmp_path / "s.csv", method="sampling")
        client.submit(allocate_and_hold, 100, 0.2, key="slow-big").result()
    (row,) = read_task_rows(tmp_path / "s.csv")
    assert row.method == "sampling"
    assert abs(row.peak_increase_bytes - 100 * MIB) <= 2 * MIB


def test_first_three_columns_read_like_dask_memusage(tmp_path: Path) -> None:
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    with dask_memusage_quieted(), _cluster() as (cluster, client):
        install(cluster.scheduler, ours)
        install_dask_memusage(cluster.scheduler, theirs)
        time.sleep(0.5)
        client.gather([client.submit(allocate_and_hold, 30, 0.1, key=f"k-{i}") for i in range(3)])
        time.sleep(0.2)
    assert ours.read_text().splitlines()[0] == ",".join(COLUMNS)
    assert theirs.read_text().splitlines()[0] == ",".join(MEMUSAGE_COLUMNS)
    mine = {key: (low, high) for key, low, high in read_memusage_csv(ours)}
    assert set(mine) == {"k-0", "k-1", "k-2"}
    for low, high in mine.values():
        assert 25 <= high - low <= 35  # MiB, as dask-memusage writes them
    assert {key for key, _, _ in read_memusage_csv(theirs)} <= set(mine)
    with pytest.raises(ValueError, match="not a dask-memusage CSV"):
        read_memusage_csv(Path(__file__))


def test_erred_and_dead_tasks_have_rows(tmp_path: Path) -> None:
    csv = tmp_path / "errors.csv"
    with _cluster(workers=2) as (cluster, client):
        install(cluster.scheduler, csv)
        client.gather([client.submit(allocate_and_hold, 5, 0.01, key=f"before-{i}") for i in range(4)])
        with pytest.raises(ValueError):
            client.submit(fail, key="fails").result()
        with pytest.raises(Exception):  # noqa: B017 (KilledWorker: the task is not retried)
            client.submit(exit_worker, key="kills-worker").result(timeout=60)
    rows = {row.task_key: row for row in read_task_rows(csv)}
    assert all(rows[f"before-{i}"].state == "memory" for i in range(4))
    assert rows["fails"].state == "erred"
    assert rows["kills-worker"].state == "worker-died"
    assert rows["kills-worker"].stop is None and rows["kills-worker"].baseline_bytes > 0
    assert rows["kills-worker"].peak_bytes > 0 and rows["kills-worker"].method == "heartbeat"


@pytest.mark.slow
def test_many_tasks_all_get_rows(tmp_path: Path) -> None:
    csv = tmp_path / "many.csv"
    count = 5_000  # a flood of rows from two workers at once, none lost
    with _cluster(workers=2) as (cluster, client):
        install(cluster.scheduler, csv)
        client.gather(client.map(abs, range(count), key=[f"tiny-{i}" for i in range(count)]))
    keys = [key for key, _, _ in read_memusage_csv(csv)]
    assert len(keys) == len(set(keys)) == count


def test_preload_with_real_scheduler_and_late_worker(tmp_path: Path) -> None:
    csv = tmp_path / "preload.csv"
    address = f"tcp://127.0.0.1:{free_port()}"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parents[1]),
                                                                     os.environ.get("PYTHONPATH")]))}
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
         "--no-dashboard", "--preload", "memreplay.memusage", "--memusage-csv", str(csv)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    worker = None
    try:
        with Client(address, timeout=60) as client:
            # the worker joins after the probe was installed: it must be probed too
            worker = subprocess.Popen(
                [str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--memory-limit", "2GiB"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            client.wait_for_workers(1, timeout=60)
            client.gather([client.submit(allocate_and_hold, 40, 0.05, key=f"pre-{i}") for i in range(3)])
            time.sleep(0.3)
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    rows = {row.task_key: row for row in read_task_rows(csv)}
    assert {"pre-0", "pre-1", "pre-2"} <= set(rows)
    for i in range(3):
        assert abs(rows[f"pre-{i}"].peak_increase_bytes - 40 * MIB) <= MIB


def test_the_preload_refuses_to_start_when_it_cannot_write_its_csv(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    done = subprocess.run(
        [str(bin_dir / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--dashboard-address", "127.0.0.1:0",  # its HTTP server all the same: off 8787, which may be taken
         "--preload", "memreplay.memusage", "--memusage-csv", str(blocked / "memusage.csv")],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    ours = [line for line in done.stderr.splitlines() if " - INFO - " not in line]
    assert ours == [f"memreplay: error: --memusage-csv {blocked / 'memusage.csv'}: Not a directory"]


@pytest.mark.parametrize("method", [pytest.param("clear_refs", marks=needs_clear_refs), "sampling"])
def test_each_meter_reads_rss_alone_as_its_full_read_does(method: str) -> None:
    """A task start with nothing else running reads RSS alone (statm for clear_refs): it must
    be the RSS the full read gives, and a reset then a read must see memory touched between."""
    from memreplay.probes.meter import open_meter

    meter = open_meter(method)
    try:
        rss, _ = meter.read()
        assert abs(meter.rss() - rss) < 4 * MIB
        meter.reset()
        held = bytearray(64 * MIB)
        held[::4096] = b"x" * len(held[::4096])
        time.sleep(0.01)  # the sampling meter sees it on its next poll
        after, peak = meter.read()
        assert peak >= after >= meter.rss() - 4 * MIB and peak - rss > 60 * MIB
        del held
    finally:
        meter.close()


@needs_clear_refs
def test_a_reset_returns_the_rss_it_starts_from_above_and_below_the_older_peak() -> None:
    """A task's start reads its baseline from the reset: getrusage right after it where that is
    the RSS now (above the older peak's bound), statm where it may be the older peak."""
    from memreplay.probes.clear_refs import ClearRefsMeter

    def touched(mib: int) -> bytearray:
        held = bytearray(mib * MIB)
        held[::4096] = b"x" * len(held[::4096])
        return held

    meter = ClearRefsMeter()
    try:
        high = touched(160)
        meter.reset()  # the first reset: the bound is the RSS now, 160 MiB up
        del high
        below = meter.reset()  # 160 MiB below the bound: ru_maxrss would be the older peak
        assert abs(below - meter.rss()) < 4 * MIB
        higher = touched(320)
        above = meter.reset()  # above the bound: ru_maxrss right after the reset is the RSS now
        assert abs(above - meter.rss()) < 4 * MIB and above - below > 300 * MIB
        del higher
    finally:
        meter.close()


@needs_clear_refs
def test_the_exact_peak_counts_memory_another_thread_touched_and_freed() -> None:
    """The fast path reads ``getrusage`` of the calling thread: its peak must still be the whole
    process's (a task runs in an executor thread; its boundaries are read on the event loop's)."""
    import threading

    from memreplay.probes.clear_refs import ClearRefsMeter

    meter = ClearRefsMeter()
    try:
        meter.reset()  # the first reset sets the bound above which getrusage is read
        before, _ = meter.read()
        meter.reset()

        def touch_and_free() -> None:
            held = bytearray(96 * MIB)
            held[::4096] = b"x" * len(held[::4096])
            del held

        worker = threading.Thread(target=touch_and_free)
        worker.start()
        worker.join()
        after, peak = meter.read()
        assert peak - before > 90 * MIB and after < peak - 60 * MIB
    finally:
        meter.close()
