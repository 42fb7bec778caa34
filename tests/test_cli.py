"""The command line, end to end: real LocalClusters, real records, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.probes.task_memory_csv import read_task_rows
from harness.records import SCHEMA_VERSION, load_record
from tests.conftest import TEST_SCALE, memreplay


def test_list_names_every_workload() -> None:
    result = memreplay("list")
    assert result.returncode == 0
    for name in ("wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"):
        assert name in result.stdout


def test_corpora_command_generates_into_given_directory(tmp_path: Path) -> None:
    result = memreplay("corpora", "--scale", "0.01", "--dir", str(tmp_path / "cache"), "--kind", "text")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cache" / "text-scale0.01-seed20260101" / "manifest.json").exists()


def test_run_on_a_real_local_cluster_writes_a_valid_record(tmp_path: Path, corpus_cache: Path) -> None:
    result = memreplay(
        "run", "wordcount-naive", "--workers", "2", "--threads", "1", "--memory-limit", "2GiB",
        "--scale", str(TEST_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache),
    )
    assert result.returncode == 0, result.stderr
    record_path = Path(result.stdout.strip().splitlines()[-1])
    assert record_path.name == "run.json" and record_path.is_relative_to(tmp_path)
    record = load_record(record_path)
    assert record["schema_version"] == SCHEMA_VERSION
    for key in ("python", "dask", "distributed", "numpy", "cpu_model", "cpu_count", "ram_bytes", "os", "git_commit"):
        assert key in record["environment"]
    (case,) = record["cases"]
    assert case["config"] == {"n_workers": 2, "threads_per_worker": 1, "memory_limit": 2**30 * 2, "processes": True}
    assert case["outcome"] == "ok" and case["answer_check"] == "passed"
    assert case["wall_time_s"] > 0
    assert not list(record_path.parent.glob(".*.tmp"))  # atomic writes leave no temporaries
    # the per-task CSV sits beside the record, summarised by un-fused prefix
    tasks = case["task_memory"]
    assert (Path(case["directory"]) / tasks["csv"]).exists() and tasks["methods"] == ["clear_refs"]
    words = tasks["by_prefix"]["count_words_naive"]
    assert words["tasks"] >= 9 and words["measured"] == words["tasks"]
    assert words["peak_increase_p50_bytes"] <= words["peak_increase_p95_bytes"] <= words["peak_increase_max_bytes"]
    largest = words["largest_task"]
    assert "count_words_naive" in largest["task_key"] and largest["input_bytes"] > 0
    # the memory timeline has samples for the scheduler and every worker, and a plot
    from harness.probes.timeline import read_timeline

    timeline = case["timeline"]
    samples = read_timeline(Path(case["directory"]) / timeline["csv"])
    workers = {row["worker"] for row in read_task_rows(Path(case["directory"]) / tasks["csv"])}
    assert len(workers) == 2 and {name for _, name, _ in samples} == workers | {"scheduler"}
    assert all(rss > 0 for _, _, rss in samples)
    assert (Path(case["directory"]) / timeline["png"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_record_of_another_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 999}))
    from harness.errors import UserError

    with pytest.raises(UserError, match="schema version 999"):
        load_record(tmp_path)


def _assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "no-such-workload"], ["unknown workload 'no-such-workload'"]),
        (["run", "wordcount-naive", "--workers", "0"], ["n_workers", "at least 1"]),
        (["run", "wordcount-naive", "--workers", "-3"], ["n_workers", "-3"]),
        (["run", "wordcount-naive", "--threads", "0"], ["threads_per_worker", "at least 1"]),
        (["run", "wordcount-naive", "--memory-limit", "lots"], ["memory limit 'lots'"]),
        (["run", "wordcount-naive", "--scale", "0"], ["scale"]),
        (["run", "wordcount-naive", "--scale", "-2"], ["scale"]),
        (["run", "no_such_module_xyz:build"], ["cannot import 'no_such_module_xyz'"]),
        (["run", "json:no_such_function"], ["no function 'no_such_function'"]),
        (["run", "wordcount-naive", "--workers", "two"], ["invalid int value"]),
        (["corpora", "--scale", "-1"], ["scale"]),
    ],
)
def test_bad_input_is_one_line_and_nonzero(args: list[str], fragments: list[str], tmp_path: Path) -> None:
    _assert_one_line_error(memreplay(*args, "--results", str(tmp_path)), *fragments)


def test_unwritable_results_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = memreplay("run", "wordcount-naive", "--results", str(blocker / "results"))
    _assert_one_line_error(result, "results directory", "not writable")


def test_failing_user_workload_is_a_recorded_error(tmp_path: Path, corpus_cache: Path) -> None:
    (tmp_path / "broken_pipeline.py").write_text("def build(corpus):\n    raise RuntimeError('no graph today')\n")
    result = memreplay("run", "broken_pipeline:build", "--workers", "1", "--scale", str(TEST_SCALE),
                       "--results", str(tmp_path / "results"), "--corpora", str(corpus_cache), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (case,) = load_record(result.stdout.strip().splitlines()[-1])["cases"]
    assert case["outcome"] == "error" and case["error"] == "RuntimeError: no graph today"
