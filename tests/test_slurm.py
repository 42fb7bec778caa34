"""The same measurements on a real batch queue: a one-node SLURM of the session's own
(tests/helpers/slurm.py) and dask-jobqueue's SLURMCluster named in the matrix, a fresh cluster per
case whose workers are sbatch jobs (one job per worker: cores = threads, processes = 1); an
out-of-memory case there; and a pipeline of the user's own recorded on a SLURMCluster and replayed
on one. Skipped, saying why, where SLURM cannot run (not installed, not root)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.cluster_source import manager_arguments, resolve_manager
from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from memreplay.workloads.trace import index_trace, iter_tasks
from tests.helpers.cli import MEMREPLAY, TEST_SCALE, needs_clear_refs, write_matrix
from tests.helpers.slurm import SlurmCluster

pytest.importorskip("dask_jobqueue", reason="SLURM: dask-jobqueue is not installed")

pytestmark = needs_clear_refs

GIB = 2**30
CHECKOUT = Path(__file__).resolve().parents[1]
PIPELINE = str(CHECKOUT / "tests" / "helpers" / "slurm_pipeline.py")
MANAGER = "dask_jobqueue:SLURMCluster"


@pytest.fixture
def on_slurm(slurm: SlurmCluster, monkeypatch: pytest.MonkeyPatch) -> SlurmCluster:
    """memreplay in this process submits to the session's SLURM (sbatch, squeue and scancel read
    SLURM_CONF); the jobs inherit this environment (sbatch's --export=ALL), so stop() finds them."""
    if slurm.cpus < 2 or slurm.memory_mib < 3 * 1024:  # two 1-core 1 GiB jobs at once, and this process
        pytest.skip(f"SLURM: the node has {slurm.cpus} CPUs and {slurm.memory_mib} MiB; these tests need 2 and 3 GiB")
    slurm.wait_until_idle()  # what an earlier test started has ended
    for name, value in slurm.env.items():
        monkeypatch.setenv(name, value)
    return slurm


def _cluster_table(tmp_path: Path, job_name: str) -> str:
    """The [cluster] table: every job on loopback, run by this interpreter (the venv's) with the
    checkout on its path (the tests' workloads), its logs and its corpus cache in the test's own
    directories."""
    prologue = [f"export PYTHONPATH={CHECKOUT}", f"export MEMREPLAY_CORPORA={tmp_path / 'worker-corpora'}"]
    return f"""
[cluster]
interface = "lo"
python = "{sys.executable}"
job_name = "{job_name}"
log_directory = "{tmp_path / 'jobs'}"
local_directory = "{tmp_path / 'scratch'}"
walltime = "00:10:00"
death_timeout = 30
job_script_prologue = {prologue!r}
scheduler_options = {{dashboard_address = ":0"}}
""".replace("'", '"')


def _slurm_matrix(tmp_path: Path, job_name: str, workload: str, shapes: list[list[int]], memory_limit: str) -> Path:
    """A matrix of one workload on SLURMCluster, without ladders or profiles."""
    return write_matrix(tmp_path, f"""
[matrix]
cluster = "{MANAGER}"
workloads = ["{workload}"]
shapes = {shapes}
memory_limits = ["{memory_limit}"]
scale = {TEST_SCALE}
size_ladder = false
fil_profiles = false
{_cluster_table(tmp_path, job_name)}""")


def _jobs_by_worker(log_directory: Path) -> dict[str, tuple[str, str]]:
    """Each worker's address → (its sbatch job id, the scheduler it registered to), from the
    workers' own logs (``#SBATCH -e DIR/NAME-%J.err``)."""
    found = {}
    for path in log_directory.glob("*.err"):
        job_id = path.stem.rsplit("-", 1)[1]
        text = path.read_text(errors="replace")
        scheduler = re.search(r"Registered to:\s+(\S+)", text)
        for worker in re.findall(r"Start worker at:\s+(\S+)", text):  # again after a nanny restarts it
            found[worker] = (job_id, scheduler.group(1) if scheduler else "")
    return found


def test_slurm_cluster_takes_the_shape_through_its_job_class() -> None:
    """SLURMCluster's own signature has no cores or memory: its **job_kwargs go to SLURMJob and Job."""
    arguments, scale_to = manager_arguments(resolve_manager(MANAGER, "matrix.cluster"), MANAGER,
                                            {"interface": "lo"}, ClusterConfig(2, 1, GIB), "matrix.cluster")
    assert arguments == {"interface": "lo", "cores": 1, "memory": "1GiB", "processes": 1, "n_workers": 2}
    assert scale_to is None


@pytest.mark.slow
def test_each_case_gets_a_fresh_allocation_in_its_shape(cli, on_slurm: SlurmCluster, tmp_path: Path) -> None:
    matrix = _slurm_matrix(tmp_path, "memreplay-sweep", "wordcount-naive", [[1, 1], [2, 1]], "1GiB")
    result = cli("sweep", str(matrix), "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stdout + result.stderr
    record = load_record(result.record_path, SweepRecord)
    assert record.settings.matrix.cluster.manager == MANAGER
    assert [[(w.nthreads, w.memory_limit) for w in case.cluster.workers] for case in record.cases] == [
        [(1, GIB)], [(1, GIB), (1, GIB)]]
    assert all((case.outcome, case.answer_check, case.cluster.kind) == ("ok", "passed", "manager")
               for case in record.cases), [(c.outcome, c.error) for c in record.cases]
    # every worker of every case was an sbatch job of its own, registered to its case's scheduler,
    # and no job served two cases: a fresh allocation per case
    jobs = _jobs_by_worker(tmp_path / "jobs")
    per_case = []
    for case in record.cases:
        ran = [jobs[worker.address] for worker in case.cluster.workers]
        assert {scheduler for _, scheduler in ran} == {case.cluster.address}, (case.id, ran)
        per_case.append({job for job, _ in ran})
    assert [len(ids) for ids in per_case] == [1, 2] and not per_case[0] & per_case[1], per_case
    # SLURM's own account, once both clusters have cancelled their jobs: three jobs, all ended
    on_slurm.wait_until_idle()
    finished = {job["JobId"]: job for job in on_slurm.finished_jobs() if job["Name"] == "memreplay-sweep"}
    assert set(finished) == per_case[0] | per_case[1], (finished, per_case)
    assert {job["JobState"] for job in finished.values()} <= {"CANCELLED", "COMPLETED"}


@pytest.mark.slow
def test_out_of_memory_on_slurm(cli, on_slurm: SlurmCluster, tmp_path: Path) -> None:
    """SLURM schedules memory (--mem) but, without cgroups, does not enforce it: the worker's nanny
    does, as on any cluster, and the case is out of memory with the task that grew."""
    matrix = _slurm_matrix(tmp_path, "memreplay-oom", "tests.helpers.sweep_workloads:hog", [[1, 1]], "512MiB")
    result = cli("sweep", str(matrix), "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stdout + result.stderr  # a case out of memory is a result
    case = load_record(result.record_path, SweepRecord).cases[0]
    assert case.outcome == "oom" and case.oom is not None, (case.outcome, case.error)
    assert case.oom.peak_rss_bytes and case.oom.peak_rss_bytes > 400 * 2**20, case.oom
    assert case.oom.task_prefix == "_hog" or "_hog" in (case.oom.task or ""), case.oom
    assert [(w.nthreads, w.memory_limit) for w in case.cluster.workers] == [(1, 512 * 2**20)]
    assert case.oom.worker in _jobs_by_worker(tmp_path / "jobs")  # the worker of an sbatch job


@pytest.mark.slow
def test_a_pipeline_recorded_on_slurm_replays_on_slurm(cli, on_slurm: SlurmCluster, tmp_path: Path) -> None:
    corpora = tmp_path / "corpora"
    trace = tmp_path / "slurm.json"
    done = subprocess.run([MEMREPLAY, "record", "--output", str(trace), "--", sys.executable, PIPELINE,
                           str(corpora), str(TEST_SCALE), str(tmp_path / "recorded-jobs")],
                          capture_output=True, text=True, timeout=240, env={**os.environ, **on_slurm.env})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "outcome ok" in done.stdout, done.stdout
    index = index_trace(trace)
    assert index.header.cluster is not None
    assert (index.header.cluster.n_workers, index.header.cluster.threads_per_worker,
            index.header.cluster.memory_limit) == (2, 1, GIB)
    recorded = list(iter_tasks(trace))
    assert {"count_words_naive", "shuffle-group"} <= {task.prefix for task in recorded}
    assert index.end.tasks == len(recorded) and all(task.state == "memory" for task in recorded)
    assert len(list((tmp_path / "recorded-jobs").glob("*.err"))) == 2  # two sbatch jobs, one worker each

    on_slurm.wait_until_idle()
    matrix = _slurm_matrix(tmp_path, "memreplay-replay", f"replay:{trace}", [[2, 1]], "1GiB")
    result = cli("sweep", str(matrix), "--corpora", str(corpora), "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stdout + result.stderr
    case = load_record(result.record_path, SweepRecord).cases[0]
    assert case.outcome == "ok" and case.cluster.kind == "manager", (case.outcome, case.error)
    fidelity = case.fidelity
    assert fidelity is not None and fidelity.same_configuration, fidelity
    assert fidelity.outcome_trace == fidelity.outcome_replay == "ok" and fidelity.outcome_ok, fidelity
    assert fidelity.tasks == len(recorded) and fidelity.compared == fidelity.tasks, fidelity  # 1 thread: all alone
    assert fidelity.peaks_ok, fidelity
    assert case.task_memory is not None
    assert {"count_words_naive", "shuffle-group"} <= set(case.task_memory.by_prefix)
    replayed = sum(summary.tasks for summary in case.task_memory.by_prefix.values())
    assert replayed == len(recorded), (replayed, len(recorded))
