"""Sweeps end to end on real LocalClusters: outcomes (ok, oom), resume after Ctrl-C, the sizing
model, recommendations, and matrices refused before any cluster starts."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.groundtruth import MIB
from harness.recommend import recommend
from harness.records import load_record
from tests.conftest import MEMREPLAY, TEST_SCALE, memreplay
from tests.sweep_workloads import PEAK_PER_INPUT_BYTE


def _matrix(tmp_path: Path, body: str, name: str = "matrix.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


TINY = f"""
[matrix]
workloads = ["wordcount-streaming", "tests.sweep_workloads:hog"]
shapes = [[1, 1]]
memory_limits = ["400MiB", "3GiB"]
scale = {TEST_SCALE}
timeout_s = 120
"""


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory: pytest.TempPathFactory, corpus_cache: Path) -> tuple[dict, str]:
    tmp_path = tmp_path_factory.mktemp("sweep")
    result = memreplay("sweep", str(_matrix(tmp_path, TINY)), "--results", str(tmp_path),
                       "--corpora", str(corpus_cache), timeout=600)
    assert result.returncode == 0, result.stderr  # an out-of-memory case is a result, not a failure
    path = result.stdout.strip().splitlines()[-1].removeprefix("results: ")
    return load_record(path), result.stdout


def test_tiny_matrix_end_to_end(tiny_sweep: tuple[dict, str]) -> None:
    record, stdout = tiny_sweep
    assert record["kind"] == "sweep"
    assert [c["id"] for c in record["settings"]["matrix"]["cases"]] == [c["id"] for c in record["cases"]]
    outcomes = {c["id"]: c["outcome"] for c in record["cases"]}
    assert outcomes == {
        "wordcount-streaming-1x1-400MiB-r0": "ok", "wordcount-streaming-1x1-3GiB-r0": "ok",
        "tests.sweep_workloads.hog-1x1-400MiB-r0": "oom", "tests.sweep_workloads.hog-1x1-3GiB-r0": "ok",
    }
    for case in record["cases"]:
        assert case["cost_gib_s"] == pytest.approx(case["wall_time_s"] * case["config"]["memory_limit"] / 2**30,
                                                   rel=0.01)
    assert "count_words_streaming" in record["summary"]["model"]
    # Fil, once per workload, on the input of its hungriest task
    profiles = {p["workload"]: p for p in record["summary"]["profiles"]}
    assert set(profiles) == {"wordcount-streaming", "tests.sweep_workloads:hog"}
    assert profiles["wordcount-streaming"]["status"] == "ok"
    assert profiles["wordcount-streaming"]["input"].endswith("large.txt")
    assert "oom" in stdout and "Peak memory vs input size" in stdout


def test_out_of_memory_is_a_result_with_the_task_and_peak(tiny_sweep: tuple[dict, str]) -> None:
    record, _ = tiny_sweep
    (oom,) = [c for c in record["cases"] if c["outcome"] == "oom"]
    assert "hog" in oom["oom"]["task"] and oom["oom"]["task_prefix"] == "hog"
    (died,) = oom["task_memory"]["worker_died"]
    assert died["peak_bytes"] == oom["oom"]["peak_rss_bytes"]
    assert oom["oom"]["peak_rss_bytes"] > 0.95 * 400 * MIB
    assert oom["oom"]["workers_killed"] == 1  # not retried on a new worker


def test_run_records_oom_instead_of_crashing(tmp_path: Path, corpus_cache: Path) -> None:
    result = memreplay("run", "tests.sweep_workloads:hog", "--workers", "1", "--threads", "1",
                       "--memory-limit", "400MiB", "--scale", str(TEST_SCALE), "--results", str(tmp_path),
                       "--corpora", str(corpus_cache))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (case,) = load_record(result.stdout.strip().splitlines()[-1])["cases"]
    assert case["outcome"] == "oom"


def test_recommend_from_a_sweep(tiny_sweep: tuple[dict, str]) -> None:
    record, _ = tiny_sweep
    run = next(Path(c["directory"]) for c in record["cases"]).parents[1]
    result = memreplay("recommend", str(run), "--cores", "4", "--memory", "16GiB")
    assert result.returncode == 0, result.stderr
    assert "wordcount-streaming" in result.stdout and "tasks at once" in result.stdout


def test_recommendation_arithmetic() -> None:
    gib = 2**30
    case = {"id": "w-2x1", "outcome": "ok", "workload": {"name": "w"}, "wall_time_s": 10.0, "cost_gib_s": 40.0,
            "config": {"n_workers": 2, "threads_per_worker": 1, "memory_limit": 2 * gib},
            "task_memory": {"worker_baseline_bytes": 100 * MIB,
                            "by_prefix": {"f": {"peak_increase_max_bytes": gib}}}}
    advice = recommend({"cases": [case]}, cores=4, memory=3 * gib, margin=0.2)["workloads"]["w"]
    # 2.4 GiB usable: two 1.1 GiB single-threaded workers fit, a third does not
    assert (advice["tasks_at_once"], advice["n_workers"], advice["threads_per_worker"]) == (2, 2, 1)
    assert advice["fastest"]["id"] == "w-2x1"
    assert recommend({"cases": [case]}, cores=4, memory=gib, margin=0.2)["workloads"]["w"]["tasks_at_once"] == 0


def test_model_recovers_a_known_linear_peak(tmp_path: Path, corpus_cache: Path) -> None:
    matrix = _matrix(tmp_path, """
[matrix]
workloads = ["tests.sweep_workloads:linear"]
shapes = [[1, 1]]
memory_limits = ["4GiB"]
scale = 0.5
""")
    result = memreplay("sweep", str(matrix), "--results", str(tmp_path), "--corpora", str(corpus_cache), timeout=600)
    assert result.returncode == 0, result.stderr
    record = load_record(result.stdout.strip().splitlines()[-1].removeprefix("results: "))
    (model,) = record["summary"]["model"].values()
    assert model["slope"] == pytest.approx(PEAK_PER_INPUT_BYTE, rel=0.03)
    assert abs(model["heldout"]["error_percent"]) < 5
    assert model["heldout"]["input_bytes"] == max(f.stat().st_size for f in
                                                   (corpus_cache / "text-scale0.5-seed20260101").glob("*.txt"))


def test_resume_after_ctrl_c_runs_only_missing_cases(tmp_path: Path, corpus_cache: Path) -> None:
    matrix = _matrix(tmp_path, f"""
[matrix]
workloads = ["wordcount-streaming"]
shapes = [[1, 1], [1, 2], [2, 1]]
memory_limits = ["1GiB"]
scale = {TEST_SCALE}
""")
    process = subprocess.Popen([MEMREPLAY, "sweep", str(matrix), "--results", str(tmp_path), "--corpora",
                                str(corpus_cache)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    record_path = None
    while time.monotonic() < deadline:
        found = list(tmp_path.glob("runs/*/run.json"))
        if found and json.loads(found[0].read_text())["cases"]:
            record_path = found[0]
            break
        time.sleep(0.2)
    assert record_path is not None, "the first case never finished"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr
    kept = load_record(record_path)["cases"]
    assert 1 <= len(kept) < 3
    result = memreplay("sweep", str(matrix), "--resume", str(record_path.parent), "--results", str(tmp_path),
                       "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    cases = load_record(record_path)["cases"]
    assert [c["id"] for c in cases] == ["wordcount-streaming-1x1-1GiB-r0", "wordcount-streaming-1x2-1GiB-r0",
                                        "wordcount-streaming-2x1-1GiB-r0"]
    assert cases[: len(kept)] == kept  # finished cases were kept, not rerun


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
    ],
)
def test_bad_matrix_is_refused_before_any_cluster(body: str, fragments: list[str], tmp_path: Path) -> None:
    matrix = _matrix(tmp_path, body)
    started = time.monotonic()
    result = memreplay("sweep", str(matrix), "--results", str(tmp_path / "results"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(matrix) in lines[0], result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert time.monotonic() - started < 20 and not (tmp_path / "results").exists()


def test_a_hanging_case_is_stopped_and_recorded_as_timeout(tmp_path: Path, corpus_cache: Path) -> None:
    started = time.monotonic()
    result = memreplay("run", "tests.sweep_workloads:hangs", "--workers", "1", "--timeout", "3",
                       "--scale", str(TEST_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (case,) = load_record(result.stdout.strip().splitlines()[-1])["cases"]
    assert case["outcome"] == "timeout" and 3 <= case["wall_time_s"] < 10
    assert time.monotonic() - started < 90
