"""The same measurements on any Dask cluster, here one running cluster that the tests share
(real ``dask scheduler`` and ``dask worker`` processes on loopback) whose workers share no files
with memreplay; and what a running cluster or a cluster manager cannot run, refused in one line.
The clusters a single test needs to itself (TLS, a manager's, workers that join late, die or
differ) are in test_any_cluster_own.py."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from memreplay.corpora import ensure_corpus
from memreplay.execute import cluster as cluster_module
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.cluster_source import manager_arguments
from memreplay.records.schema import SCHEMA_VERSION, SweepRecord
from memreplay.records.store import load_record
from tests.helpers.cli import (
    TEST_SCALE,
    assert_one_line_error,
    needs_clear_refs,
    write_matrix,
)
from tests.helpers.dask_processes import RunningCluster, running_cluster, tasks_csv_rows, worker_environment
from tests.helpers.sweep_workloads import QueueCluster

pytestmark = needs_clear_refs

GIB = 2**30


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    """A scheduler and two workers of 1 thread and 1 GiB, each started in a working directory of
    its own with no corpus in reach."""
    root = tmp_path_factory.mktemp("running")
    homes = {name: root / f"home-{name}" for name in ("a", "b")}
    workers = {
        "a": {"cwd": homes["a"], "env": worker_environment(homes["a"], homes["a"] / "corpora")},
        "b": {"cwd": homes["b"], "env": worker_environment(homes["b"], None)},  # the default: its temp directory
    }
    for home in homes.values():
        home.mkdir(parents=True, exist_ok=True)
    with running_cluster(root / "cluster", workers) as running:
        running.homes = homes  # type: ignore[attr-defined]
        yield running


@pytest.mark.slow
def test_a_sweep_runs_on_a_running_cluster_whose_workers_share_no_files(cli, cluster: RunningCluster,
                                                                        tmp_path: Path) -> None:
    driver_corpora = tmp_path / "driver-corpora"
    matrix = write_matrix(tmp_path, f"""
[matrix]
workloads = ["wordcount-naive", "tests.helpers.sweep_workloads:where_read"]
shapes = [[2, 1]]
memory_limits = ["1GiB"]
scale = {TEST_SCALE}
size_ladder = false
fil_profiles = true
""")
    result = cli("sweep", str(matrix), "--scheduler", cluster.address, "--corpora", str(driver_corpora),
                 "--results", str(tmp_path / "results"))
    assert result.returncode == 0, result.stdout + result.stderr
    record = load_record(result.record_path, SweepRecord)
    assert record.settings.matrix.cluster.kind == "running"
    assert record.settings.matrix.cluster.address == cluster.address
    run_dir = Path(result.record_path).parent
    for case in record.cases:
        # wordcount's answer is checked against the corpus' truth; where-read's check fails if a
        # task opened a file under the driver's corpus directory
        assert (case.outcome, case.answer_check) == ("ok", "passed"), case
        assert case.cluster is not None and case.cluster.kind == "running"
        assert case.cluster.address == cluster.address
        assert [(w.nthreads, w.memory_limit) for w in case.cluster.workers] == [(1, GIB), (1, GIB)]
        assert all(w.packages["distributed"] == case.cluster.scheduler_packages["distributed"]
                   for w in case.cluster.workers)
        assert case.cluster.version_warnings == []
        addresses = {w.address for w in case.cluster.workers}
        rows = tasks_csv_rows(run_dir / "cases" / case.id)
        assert {row["worker"] for row in rows} <= addresses and rows
        # the timeline comes from the processes themselves: the scheduler and both workers
        assert case.timeline is not None and set(case.timeline.processes) == {"scheduler", *addresses}
    # each worker generated the corpus in its own cache and checked it against the driver's manifest
    driver = ensure_corpus("text", TEST_SCALE, driver_corpora)
    homes = cluster.homes  # type: ignore[attr-defined]
    for cache in (homes["a"] / "corpora", homes["b"] / "tmp" / "memreplay-corpora"):
        copy = ensure_corpus("text", TEST_SCALE, cache)
        assert [f.sha256 for f in copy.files] == [f.sha256 for f in driver.files]
    # profiles run where memreplay runs, and say so
    assert record.summary.profiles and all(p.host == socket.gethostname() for p in record.summary.profiles)


def test_run_on_a_running_cluster_reads_its_shape(cli, cluster: RunningCluster, tmp_path: Path) -> None:
    result = cli("run", "wordcount-streaming", "--scheduler", cluster.address, "--scale", str(TEST_SCALE),
                 "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    case = load_record(result.record_path, SweepRecord).cases[0]
    assert case.config == ClusterConfig(2, 1, GIB) and case.id == "wordcount-streaming-2x1-1GiB-r0"


@pytest.mark.parametrize(("options", "fragments"), [
    (["--workers", "3"], ["--workers", "running cluster's"]),
    (["--memory-limit", "2GiB"], ["--memory-limit"]),
    (["--scheduler-preset", "trimmed"], ["trimmed", "own scheduler"]),
])
def test_run_refuses_options_a_running_cluster_decides(cli, cluster: RunningCluster, tmp_path: Path,
                                                       options: list[str], fragments: list[str]) -> None:
    result = cli("run", "wordcount-naive", "--scheduler", cluster.address, *options,
                 "--results", str(tmp_path / "results"))
    assert_one_line_error(result, *fragments)


def test_a_matrix_unlike_the_running_cluster_is_refused_before_any_case(cli, cluster: RunningCluster,
                                                                        tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, """
[matrix]
workloads = ["wordcount-naive"]
shapes = [[2, 1], [1, 2]]
memory_limits = ["1GiB"]
""")
    result = cli("sweep", str(matrix), "--scheduler", cluster.address, "--results", str(tmp_path / "results"))
    assert_one_line_error(result, "--scheduler", "2x1-1GiB", "1x2-1GiB")
    assert not (tmp_path / "results" / "runs").exists() or not any((tmp_path / "results" / "runs").iterdir())


@pytest.mark.parametrize(("options", "fragments"), [
    (["--scheduler", "tcp://127.0.0.1:1"], ["--scheduler", "cannot connect"]),
    (["--tls-cert", "cert.pem"], ["--tls-cert", "only with --scheduler"]),
    (["--scheduler", "tls://127.0.0.1:1"], ["TLS", "--tls-ca-file"]),
    (["--scheduler", "tls://127.0.0.1:1", "--tls-ca-file", "nope.pem", "--tls-cert", "x", "--tls-key", "y"],
     ["--tls-ca-file", "no such file"]),
])
def test_bad_running_cluster_options_are_one_line(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  options: list[str], fragments: list[str]) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_S", 3)  # nothing listens there: refused at once, retried until then
    result = cli("run", "wordcount-naive", *options, "--results", str(tmp_path / "results"))
    assert_one_line_error(result, *fragments)


@pytest.mark.parametrize(("body", "fragments"), [
    ('cluster = "no_such_package.clusters:Cluster"', ["matrix.cluster", "cannot import"]),
    ('cluster = "tests.helpers.sweep_workloads:ShapelessCluster"', ["ShapelessCluster", "memory limit"]),
    ('cluster = "SubprocessCluster"', ["matrix.cluster", "package.module:Class"]),
    ('cluster = "distributed.deploy.subprocess:SubprocessCluster"\n[cluster]\nn_workers = 3',
     ["cluster.n_workers", "shape"]),
    ('cluster = "distributed.deploy.subprocess:SubprocessCluster"\n[cluster]\nworker_kwargs = {memory_limit = 1}',
     ["cluster.worker_kwargs.memory_limit"]),
    ('cluster = "distributed.deploy.subprocess:SubprocessCluster"\nprocesses = [false]', ["processes"]),
    ('cluster = "distributed.deploy.subprocess:SubprocessCluster"\nscheduler_presets = ["trimmed"]',
     ["trimmed", "own scheduler"]),
    ('[cluster]\nn_workers = 3', ["[cluster]", "names none"]),
])
def test_a_cluster_manager_that_cannot_run_the_matrix_is_refused(cli, tmp_path: Path, body: str,
                                                                 fragments: list[str]) -> None:
    head, _, tail = body.partition("\n[cluster]")
    matrix = write_matrix(tmp_path, f"""
[matrix]
workloads = ["wordcount-naive"]
shapes = [[2, 1]]
memory_limits = ["1GiB"]
{head}
{"[cluster]" + tail if tail else ""}
""")
    assert_one_line_error(cli("sweep", str(matrix), "--results", str(tmp_path / "results")), *fragments)


def test_a_job_queue_manager_gets_cores_memory_and_one_process_per_job() -> None:
    arguments, scale_to = manager_arguments(QueueCluster, "tests:QueueCluster", {"queue": "regular"},
                                            ClusterConfig(3, 2, 4 * GIB), "matrix.cluster")
    assert arguments == {"queue": "regular", "cores": 2, "memory": "4GiB", "processes": 1}
    assert scale_to == 3


def test_a_record_names_where_each_case_ran(cli, cluster: RunningCluster, tmp_path: Path) -> None:
    """The report and the terminal say which cluster: kind and address."""
    result = cli("run", "wordcount-naive", "--scheduler", cluster.address, "--scale", str(TEST_SCALE),
                 "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "results"))
    assert result.returncode == 0, result.stderr
    assert cluster.address in result.stdout
    page = Path(result.report_path).read_text()
    assert cluster.address in page and "running cluster" in page
    document = json.loads(Path(result.record_path).read_text())
    assert document["schema_version"] == SCHEMA_VERSION


@pytest.mark.slow
def test_out_of_memory_on_a_running_cluster_is_this_case_s_alone(cli, cluster: RunningCluster,
                                                                 tmp_path: Path) -> None:
    """A running scheduler remembers every kill; a later case killed for another reason is an
    error, not out of memory."""
    common = ["--scheduler", cluster.address, "--scale", str(TEST_SCALE), "--corpora", str(tmp_path / "corpora"),
              "--results", str(tmp_path / "results")]
    hog = cli("run", "tests.helpers.sweep_workloads:hog", *common)
    assert hog.returncode == 1
    case = load_record(hog.record_path, SweepRecord).cases[0]
    assert case.outcome == "oom" and case.oom is not None and case.oom.peak_rss_bytes, case
    # the case ended at the first kill; the other worker's hog grows on until its nanny kills it
    # too: the next case starts once both workers are back and idle (its shape, and no kill of ours)
    cluster.wait_until_idle(2)
    killed = cli("run", "tests.helpers.sweep_workloads:killed", *common)
    assert killed.returncode == 1
    case = load_record(killed.record_path, SweepRecord).cases[0]
    assert case.outcome == "error" and case.oom is None, case
    cluster.wait_until_idle(2)  # the nannies brought both workers back, for whatever runs next


