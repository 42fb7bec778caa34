"""Sweeps end to end on real LocalClusters: outcomes (ok, oom, error), the sizing model,
recommendations, resuming a matrix that changed, and matrices refused before any cluster
starts. Sweeps stopped part-way are in test_sweep_interrupted.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from memreplay.studies.groundtruth import MIB
from tests.helpers.cli import TEST_SCALE, assert_one_line_error, memreplay, write_matrix
from tests.helpers.sweep_workloads import PEAK_PER_INPUT_BYTE

TINY = f"""
[matrix]
workloads = ["wordcount-streaming", "tests.helpers.sweep_workloads:hog"]
shapes = [[1, 1]]
memory_limits = ["400MiB", "3GiB"]
scale = {TEST_SCALE}
timeout_s = 120
size_ladder = false
"""


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory, corpus_cache: Path) -> tuple[SweepRecord, str, Path]:
    tmp_path = tmp_path_factory.mktemp("sweep")
    result = memreplay("sweep", str(write_matrix(tmp_path, TINY)), "--results", str(tmp_path),
                       "--corpora", str(corpus_cache), timeout=600)
    assert result.returncode == 0, result.stderr  # an out-of-memory case is a result, not a failure
    return load_record(result.record_path, SweepRecord), result.stdout, Path(result.record_path).parent


@pytest.mark.slow
def test_tiny_matrix_end_to_end(tiny_sweep: tuple[SweepRecord, str, Path]) -> None:
    record, stdout, _ = tiny_sweep
    assert [c.id for c in record.settings.matrix.cases] == [c.id for c in record.cases]
    outcomes = {c.id: c.outcome for c in record.cases}
    assert outcomes == {
        "wordcount-streaming-1x1-400MiB-r0": "ok", "wordcount-streaming-1x1-3GiB-r0": "ok",
        "tests.helpers.sweep_workloads.hog-1x1-400MiB-r0": "oom", "tests.helpers.sweep_workloads.hog-1x1-3GiB-r0": "ok",
    }
    for case in record.cases:
        assert case.cost_gib_s == pytest.approx(case.wall_time_s * case.config.memory_limit / 2**30)
    assert "count_words_streaming" in record.summary.model
    # profiles, once per workload, on the input of its hungriest task
    profiles = {p.workload: p for p in record.summary.profiles}
    assert set(profiles) == {"wordcount-streaming", "tests.helpers.sweep_workloads:hog"}
    assert profiles["wordcount-streaming"].outcome == "ok"
    assert profiles["wordcount-streaming"].input.endswith("large.txt")
    assert "oom" in stdout and "Peak versus input size" in stdout


@pytest.mark.slow
def test_out_of_memory_is_a_result_with_the_task_and_peak(tiny_sweep: tuple[SweepRecord, str, Path]) -> None:
    record, _, _ = tiny_sweep
    (oom,) = [c for c in record.cases if c.outcome == "oom"]
    assert "hog" in oom.oom.task and oom.oom.task_prefix == "hog"
    (died,) = oom.task_memory.worker_died
    assert died.peak_bytes == oom.oom.peak_rss_bytes
    assert oom.oom.peak_rss_bytes > 0.95 * 400 * MIB
    assert oom.oom.workers_killed == 1  # not retried on a new worker


@pytest.mark.slow
def test_run_records_oom_instead_of_crashing(cli, tmp_path: Path, corpus_cache: Path) -> None:
    result = cli("run", "tests.helpers.sweep_workloads:hog", "--workers", "1", "--threads", "1",
                 "--memory-limit", "400MiB", "--scale", str(TEST_SCALE), "--results", str(tmp_path),
                 "--corpora", str(corpus_cache))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    said = " ".join(result.stdout.split())  # the terminal folds a long line at its width
    assert ": oom in " in said and "out of memory: worker" in said  # the outcome, and why
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert case.outcome == "oom"


@pytest.mark.slow
def test_recommend_from_a_sweep(cli, tiny_sweep: tuple[SweepRecord, str, Path]) -> None:
    _, _, run = tiny_sweep
    result = cli("recommend", str(run), "--cores", "4", "--memory", "16GiB")
    assert result.returncode == 0, result.stderr
    assert "wordcount-streaming" in result.stdout and "tasks at once" in result.stdout


@pytest.mark.slow
def test_model_recovers_a_known_linear_peak(cli, tmp_path: Path, corpus_cache: Path) -> None:
    matrix = write_matrix(tmp_path, """
[matrix]
workloads = ["tests.helpers.sweep_workloads:linear"]
shapes = [[1, 1]]
memory_limits = ["4GiB"]
scale = 0.5
fil_profiles = false
size_ladder = false
""")
    result = cli("sweep", str(matrix), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    record = load_record(result.record_path, SweepRecord)
    (model,) = record.summary.model.values()
    assert model.slope == pytest.approx(PEAK_PER_INPUT_BYTE, rel=0.03)
    assert abs(model.heldout.error_percent) < 5
    assert model.heldout.input_bytes == max(f.stat().st_size for f in
                                                   (corpus_cache / "text-scale0.5-seed20260101").glob("*.txt"))


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\ncolour = 3\n",
         ["matrix.colour", "unknown key"]),
        ("[matrix]\nworkloads = []\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\n", ["matrix.workloads", "empty"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['64MiB']\n",
         ["matrix.memory_limits", "too small for a worker"]),
        ("[matrix]\nworkloads = ['nope']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\n",
         ["matrix.workloads", "unknown workload 'nope'"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[0, 1]]\nmemory_limits = ['1GiB']\n",
         ["matrix.shapes", "positive whole number"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nn_workers = [2]\nmemory_limits = ['1GiB']\n",
         ["matrix.shapes", "not both"]),
        ("[matrix\n", ["not valid TOML"]),
        (b"\x89PNG\r\n\x1a\n\x00\x00", ["not a text file"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\ntimeout_s = nan\n",
         ["matrix.timeout_s", "positive number"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\nprofile = true\n"
         "fil_profiles = false\n", ["matrix.profile", "renamed fil_profiles"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\nsize_ladder = 1\n",
         ["matrix.size_ladder", "true or false"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\nladder_repeats = 0\n",
         ["matrix.ladder_repeats", "positive whole number"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\n"
         "scheduler_presets = ['nope']\n", ["matrix.scheduler_presets", "no preset 'nope'"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\n"
         "scheduler_presets = [3]\n", ["matrix.scheduler_presets", "a name such as"]),
        ("[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\nmemory_limits = ['1GiB']\n"
         "scheduler_presets = ['lax']\n", ["scheduler/lax.toml", "config.distributed.admin.log-length",
                                            "must be a whole number"]),
    ],
)
def test_bad_matrix_is_refused_before_any_cluster(cli, body: str | bytes, fragments: list[str],
                                                  tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.toml"
    matrix.write_bytes(body if isinstance(body, bytes) else body.encode())
    (tmp_path / "scheduler").mkdir()  # a preset beside the matrix, with a value of the wrong type
    (tmp_path / "scheduler" / "lax.toml").write_text('[config]\n"distributed.admin.log-length" = "lots"\n')
    started = time.monotonic()
    result = cli("sweep", str(matrix), "--results", str(tmp_path / "results"))
    assert_one_line_error(result, str(matrix), *fragments)
    assert time.monotonic() - started < 20 and not (tmp_path / "results").exists()


def test_a_task_raising_timeout_error_itself_is_an_error_not_a_timeout(cli, tmp_path: Path,
                                                                       corpus_cache: Path) -> None:
    result = cli("run", "tests.helpers.sweep_workloads:raises_timeout", "--workers", "1", "--timeout", "60",
                 "--scale", str(TEST_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert case.outcome == "error" and case.error.startswith("TimeoutError: the database did not answer")


def test_resume_refuses_a_matrix_whose_settings_changed(cli, tmp_path: Path, corpus_cache: Path) -> None:
    body = """
[matrix]
workloads = ["wordcount-streaming"]
shapes = [[1, 1]]
memory_limits = ["1GiB"]
scale = {scale}
fil_profiles = false
"""
    first = cli("sweep", str(write_matrix(tmp_path, body.format(scale=TEST_SCALE))), "--results", str(tmp_path),
                "--corpora", str(corpus_cache))
    assert first.returncode == 0, first.stderr
    run = str(Path(first.record_path).parent)
    edited = write_matrix(tmp_path, body.format(scale=0.5), name="edited.toml")
    assert_one_line_error(cli("sweep", str(edited), "--resume", run, "--results", str(tmp_path)),
                          run, "scale 0.02 → 0.5", "start a new sweep")


class _ProbeOnAFullDisk:
    """A probe whose files cannot be written when the case ends (as on a full disk)."""

    name = "timeline"

    def start(self, cluster, context) -> None:
        self.case_dir = context.case_dir

    def stop(self, outcome: str) -> None:
        raise OSError(28, "No space left on device")


def test_a_probe_that_cannot_write_never_loses_the_measured_case(tmp_path: Path, text_corpus) -> None:
    from memreplay.execute.runner import run_case
    from memreplay.plan.cluster_config import ClusterConfig
    from memreplay.plan.matrix import Case
    from memreplay.probes.task_memory import TaskMemoryProbe
    from memreplay.workloads import resolve_workload

    case = Case(resolve_workload("wordcount-streaming"), ClusterConfig(n_workers=1, threads_per_worker=1,
                                                                       memory_limit=2**30))
    result = run_case(case, text_corpus, tmp_path, probes=[TaskMemoryProbe(), _ProbeOnAFullDisk()])
    assert result.outcome == "ok" and result.answer_check == "passed"
    assert result.task_memory.by_prefix["count_words_streaming"].tasks == len(text_corpus.files)
    assert result.timeline is None
    assert result.notes == ["the timeline probe failed: OSError: [Errno 28] No space left on device"]


