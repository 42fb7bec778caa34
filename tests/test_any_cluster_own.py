"""The same measurements on clusters each test starts for itself: over TLS with dask's own
options, a cluster manager's (SubprocessCluster, a fresh cluster per case), workers that join
during a case, a worker killed mid-task, a worker that cannot stage the corpus, and one whose
memreplay is another version. Real ``dask scheduler`` and ``dask worker`` processes on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from memreplay.corpora import ensure_corpus
from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from tests.helpers.cli import MEMREPLAY, TEST_SCALE, assert_one_line_error, needs_clear_refs, write_matrix
from tests.helpers.dask_processes import RunningCluster, running_cluster, tasks_csv_rows, worker_environment

pytestmark = needs_clear_refs

GIB = 2**30


def _finished_tasks(running: RunningCluster) -> int:
    with running.client() as client:
        return client.run_on_scheduler(
            lambda dask_scheduler: sum(1 for ts in dask_scheduler.tasks.values()
                                       if ts.state == "memory" and "_slow" in str(ts.key)))


def _start_run(running: RunningCluster, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([MEMREPLAY, "run", "tests.helpers.sweep_workloads:slow", "--scheduler", running.address,
                             "--scale", str(TEST_SCALE), "--corpora", str(tmp_path / "corpora"),
                             "--results", str(tmp_path / "results")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_tasks(running: RunningCluster, count: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while _finished_tasks(running) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the tasks did not run"
        time.sleep(0.1)


@pytest.mark.slow
def test_a_worker_killed_mid_case_loses_nothing_measured(tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", {"a": {}, "b": {}}) as running:
        victim = running.worker_pids()["b"]
        process = _start_run(running, tmp_path)
        _wait_for_tasks(running, 2, process)
        while not running.executing("b"):  # killed mid-task, not between two
            time.sleep(0.02)
        os.kill(victim, signal.SIGKILL)  # the worker, not its nanny: the nanny starts a new one
        out, err = process.communicate(timeout=300)
    record_path = next(line.removeprefix("results: ") for line in out.splitlines() if line.startswith("results: "))
    case = load_record(record_path, SweepRecord).cases[0]
    rows = tasks_csv_rows(Path(case.directory))
    died = [row for row in rows if row["state"] == "worker-died"]
    finished = [row for row in rows if row["state"] == "memory" and row["task_prefix"] == "slow"
                and row["alias"] == "false"]  # the task that runs _slow (fused with its partition or not)
    # the task that was running on the killed worker has its row; the rows the killed worker
    # measured before it died are kept (its results were lost and computed again elsewhere, as
    # this scheduler allows retries), and every one of the 8 tasks has an exact row
    assert len(died) == 1 and died[0]["baseline_bytes"], rows
    assert any(row["worker"] == died[0]["worker"] for row in finished), rows
    assert {row["task_key"] for row in finished} >= {died[0]["task_key"]}
    assert len({row["task_key"] for row in finished}) == 8 and case.outcome == "ok", (case, err)
    assert case.timeline is not None and len(case.timeline.processes) >= 3  # scheduler, a, b before it died


@pytest.mark.slow
def test_workers_that_join_during_the_case_are_probed(tmp_path: Path) -> None:
    late_home = tmp_path / "late"
    with running_cluster(tmp_path / "cluster", {"a": {}}) as running:
        process = _start_run(running, tmp_path)
        _wait_for_tasks(running, 1, process)
        running.start_worker("late", cwd=late_home, env=worker_environment(late_home, late_home / "corpora"))
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    record_path = next(line.removeprefix("results: ") for line in out.splitlines() if line.startswith("results: "))
    case = load_record(record_path, SweepRecord).cases[0]
    workers = {row["worker"] for row in tasks_csv_rows(Path(case.directory)) if row["state"] == "memory"}
    assert len(workers) == 2, workers  # the late worker ran tasks, and each has its exact row
    assert case.timeline is not None and len(case.timeline.processes) == 3
    assert [w.address for w in case.cluster.workers] != sorted(workers)  # recorded as at the start: one worker
    assert (late_home / "corpora").is_dir()  # it staged the corpus itself when it joined


@pytest.mark.slow
def test_a_tls_cluster_with_dask_s_own_options(cli, tmp_path: Path) -> None:
    with running_cluster(tmp_path / "cluster", {"a": {}}, tls=True) as running:
        assert running.address.startswith("tls://")
        assert running.tls is not None
        result = cli("run", "wordcount-naive", "--scheduler", running.address, *running.tls.options(),
                     "--scale", str(TEST_SCALE), "--corpora", str(tmp_path / "corpora"),
                     "--results", str(tmp_path / "results"))
        assert result.returncode == 0, result.stderr
        case = load_record(result.record_path, SweepRecord).cases[0]
        assert (case.outcome, case.answer_check, case.cluster.address) == ("ok", "passed", running.address)


@pytest.mark.slow
def test_a_cluster_manager_gives_each_case_a_fresh_cluster_in_its_shape(cli, tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, f"""
[matrix]
cluster = "distributed.deploy.subprocess:SubprocessCluster"
workloads = ["wordcount-naive"]
shapes = [[2, 1], [1, 2]]
memory_limits = ["1GiB"]
scale = {TEST_SCALE}
size_ladder = false
fil_profiles = false

[cluster]
dashboard_address = ":0"
""")
    result = cli("sweep", str(matrix), "--corpora", str(tmp_path / "corpora"),
                 "--results", str(tmp_path / "results"))
    assert result.returncode == 0, result.stdout + result.stderr
    record = load_record(result.record_path, SweepRecord)
    assert record.settings.matrix.cluster.manager == "distributed.deploy.subprocess:SubprocessCluster"
    shapes = [[(w.nthreads, w.memory_limit) for w in case.cluster.workers] for case in record.cases]
    assert shapes == [[(1, GIB), (1, GIB)], [(2, GIB)]]
    assert all((case.outcome, case.answer_check, case.cluster.kind) == ("ok", "passed", "manager")
               for case in record.cases)
    assert len({case.cluster.address for case in record.cases}) == 2  # a fresh cluster per case


@pytest.mark.slow
def test_a_worker_that_cannot_make_the_corpus_stops_the_run_in_one_line(cli, tmp_path: Path) -> None:
    unwritable = "/proc/memreplay-corpora"  # no directory can be made there, even as root
    ensure_corpus("text", TEST_SCALE, tmp_path / "corpora")  # the driver's own is fine
    with running_cluster(tmp_path / "cluster", {"a": {"env": {"MEMREPLAY_CORPORA": unwritable}}}) as running:
        result = cli("run", "wordcount-naive", "--scheduler", running.address, "--scale", str(TEST_SCALE),
                     "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "results"))
    assert_one_line_error(result, "could not be staged", unwritable)


@pytest.mark.slow
def test_a_worker_with_other_versions_is_warned_about(cli, tmp_path: Path) -> None:
    """A worker whose memreplay is another version (a distribution's metadata first on its path,
    as a stale install would be) is named in the record, the case's notes and the terminal."""
    stale = tmp_path / "stale"
    (stale / "memreplay-9.9.9.dist-info").mkdir(parents=True)
    (stale / "memreplay-9.9.9.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: memreplay\n"
                                                                 "Version: 9.9.9\n")
    path = f"{stale}{os.pathsep}{Path(__file__).resolve().parents[1]}"
    with running_cluster(tmp_path / "cluster", {"a": {"env": {"PYTHONPATH": path}}}) as running:
        result = cli("run", "wordcount-naive", "--scheduler", running.address, "--scale", str(TEST_SCALE),
                     "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    case = load_record(result.record_path, SweepRecord).cases[0]
    assert case.cluster is not None and case.cluster.workers[0].packages["memreplay"] == "9.9.9"
    warning = next(w for w in case.cluster.version_warnings if "memreplay 9.9.9" in w)
    assert warning in case.notes and f"warning: {warning}" in result.stdout
