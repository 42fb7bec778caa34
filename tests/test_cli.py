"""The command line, end to end: real LocalClusters, real records, one-line errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from memreplay.records.schema import SCHEMA_VERSION, ProfileRecord, SweepRecord
from memreplay.records.store import load_record
from memreplay.records.task_rows import read_task_rows
from memreplay.records.timeline_samples import read_timeline
from tests.helpers.cli import FUSES_BAG_PARTITIONS, TEST_SCALE, assert_one_line_error, memreplay, needs_clear_refs


def test_list_names_every_workload(cli) -> None:
    result = cli("list")
    assert result.returncode == 0
    for name in ("wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"):
        assert name in result.stdout
    shipped = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()
               if line.split() and line.split()[0] in ("default", "asv", "scheduler-presets")}
    assert set(shipped) == {"default", "asv", "scheduler-presets"} and all(map(os.path.isfile, shipped.values()))
    assert "scheduler presets: default, trimmed" in result.stdout
    assert "machine catalogs: example, for memreplay plan --machines example" in result.stdout


def test_corpora_command_generates_into_given_directory(cli, tmp_path: Path) -> None:
    result = cli("corpora", "--scale", "0.01", "--dir", str(tmp_path / "cache"), "--kind", "text",
                 "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cache" / "text-scale0.01-seed20260101" / "manifest.json").exists()


@needs_clear_refs
def test_run_on_a_real_local_cluster_writes_a_valid_record(tmp_path: Path, corpus_cache: Path) -> None:
    # the console script, in a process of its own, as a user runs it
    result = memreplay(
        "run", "wordcount-naive", "--workers", "2", "--threads", "1", "--memory-limit", "2GiB",
        "--scale", str(TEST_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache),
    )
    assert result.returncode == 0, result.stderr
    assert "wordcount-naive-2x1-2GiB-r0: ok" in result.stdout
    record_path = Path(result.record_path)
    assert record_path.name == "run.json" and record_path.is_relative_to(tmp_path)
    record = load_record(record_path, SweepRecord)
    assert record.schema_version == SCHEMA_VERSION
    assert record.environment.distributed and record.environment.ram_bytes > 0 and record.environment.cpu_count
    (case,) = record.cases
    assert (case.config.n_workers, case.config.threads_per_worker, case.config.memory_limit) == (2, 1, 2 * 2**30)
    assert case.outcome == "ok" and case.answer_check == "passed" and case.wall_time_s > 0
    assert case.cost_gib_s == pytest.approx(case.wall_time_s * 4)
    assert not list(record_path.parent.glob(".*.tmp"))  # atomic writes leave no temporaries
    # the per-task CSV sits beside the record, summarised by un-fused prefix
    tasks = case.task_memory
    assert (Path(case.directory) / tasks.csv).exists() and tasks.methods == ["clear_refs"]
    assert tasks.worker_footprint_bytes > 20 * 2**20
    words = tasks.by_prefix["count_words_naive"]
    assert words.tasks >= 9 and words.measured == words.tasks
    assert words.peak_increase_p50_bytes <= words.peak_increase_p95_bytes <= words.peak_increase_max_bytes
    assert "count_words_naive" in words.largest_task.task_key and words.largest_task.input_bytes > 0
    # the memory timeline has samples for the scheduler and every worker, and a plot
    samples = read_timeline(Path(case.directory) / case.timeline.csv)
    workers = {row.worker for row in read_task_rows(Path(case.directory) / tasks.csv)}
    assert len(workers) == 2 and {row.process for row in samples} == workers | {"scheduler"}
    assert all(row.rss_bytes > 0 for row in samples)
    # beside every worker's RSS, what its memory manager held (a small case spills nothing)
    assert all(row.managed_bytes is not None and row.managed_bytes < row.rss_bytes for row in samples
               if row.process != "scheduler")
    assert all(row.spilled_memory_bytes == 0 and row.paused is False for row in samples if row.process != "scheduler")
    assert (Path(case.directory) / case.timeline.png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_task_key_matplotlib_would_read_as_math_is_drawn_as_text(cli, tmp_path: Path, corpus_cache: Path) -> None:
    (tmp_path / "dollar_pipeline.py").write_text(
        "import dask.bag as db\n"
        "def build(corpus):\n"
        "    return db.from_sequence(corpus.paths[:2], npartitions=2).map(str).map(len).map_partitions(list,\n"
        "        token='cost$\\\\x$')\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        result = cli("run", "dollar_pipeline:build", "--workers", "1", "--scale", str(TEST_SCALE),
                     "--results", str(tmp_path / "results"), "--corpora", str(corpus_cache))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("dollar_pipeline", None)
    assert result.returncode == 0, result.stderr
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert any("$" in prefix for prefix in case.task_memory.by_prefix), case.task_memory.by_prefix
    assert case.timeline.png == "timeline.png" and case.timeline.plot_error is None


def test_threads_of_one_process_are_recorded_as_such(cli, tmp_path: Path, corpus_cache: Path) -> None:
    result = cli("run", "wordcount-streaming", "--no-processes", "--workers", "1", "--scale", str(TEST_SCALE),
                 "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert not case.config.processes and "the memory limit is not enforced" in case.notes[0]


def test_aliases_are_marked_and_kept_out_of_the_summary(cli, tmp_path: Path, corpus_cache: Path) -> None:
    result = cli("run", "wordcount-streaming", "--workers", "1", "--scale", str(TEST_SCALE),
                 "--results", str(tmp_path), "--corpora", str(corpus_cache))
    (case,) = load_record(result.record_path, SweepRecord).cases
    rows = read_task_rows(Path(case.directory) / case.task_memory.csv)
    files = case.corpus.files
    work = [r for r in rows if r.task_prefix == "count_words_streaming" and not r.alias]
    aliases = [r for r in rows if r.alias]
    assert len(work) == files and len(aliases) == files
    if FUSES_BAG_PARTITIONS:  # the fused task does the work; its alias is under the map's name
        assert work[0].group.startswith("from_sequence-")
        assert all(not r.group.startswith("from_sequence-") for r in aliases)
    else:  # the map's task does the work; each partition is data of its own, running no code
        assert all(r.group.startswith("from_sequence-") for r in aliases)
    assert sum(r.input_bytes for r in work) == case.corpus.total_bytes  # each its file's bytes, either way
    assert case.task_memory.alias_rows == files
    assert case.task_memory.by_prefix["count_words_streaming"].tasks == files  # each file once, not twice


def test_record_of_another_schema_is_refused(tmp_path: Path) -> None:
    from memreplay.errors import UserError

    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 2, "kind": "sweep"}))
    with pytest.raises(UserError, match="schema version 2; this memreplay reads 3"):
        load_record(tmp_path)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"\xff\xfe not json", "not a run record"),
        (b"[1, 2]", "not a run record"),
        (json.dumps({"schema_version": 3, "kind": "sweep", "created": "x"}).encode(), "missing required field"),
        (json.dumps({"schema_version": 3, "kind": "banana"}).encode(), "Invalid value 'banana'"),
        (b'{"schema_version": 3, "kind": "sweep", "created": "\xff\xfe"}', "not valid JSON"),
        (b"[" * 100_000, "not a run record"),
        (b'{"schema_version": 3, "kind": "sweep", "cases": ' + b"[" * 100_000, "not a run record"),
    ],
)
def test_damaged_or_foreign_records_are_refused_in_one_line(cli, tmp_path: Path, content: bytes,
                                                            fragment: str) -> None:
    (tmp_path / "run.json").write_bytes(content)
    assert_one_line_error(cli("recommend", str(tmp_path), "--cores", "4", "--memory", "8GiB"), str(tmp_path),
                          fragment)


def test_recommend_refuses_a_record_of_another_kind(cli, tmp_path: Path) -> None:
    from memreplay.records.schema import ProfileSettings
    from memreplay.records.store import RunDirectory, new_record_fields

    run = RunDirectory.create(tmp_path, "profile", ProfileRecord(settings=ProfileSettings(scale=1, timeout_s=1),
                                                                 **new_record_fields()))
    assert_one_line_error(cli("recommend", str(run.directory), "--cores", "4", "--memory", "8GiB"),
                          "is a profile record, not a sweep record")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["run", "no-such-workload"], ["unknown workload 'no-such-workload'"]),
        (["run", "wordcount-naive", "--workers", "0"], ["n_workers", "at least 1"]),
        (["run", "wordcount-naive", "--workers", "-3"], ["n_workers", "-3"]),
        (["run", "wordcount-naive", "--threads", "0"], ["threads_per_worker", "at least 1"]),
        (["run", "wordcount-naive", "--memory-limit", "lots"], ["--memory-limit: 'lots' is not a size"]),
        (["run", "wordcount-naive", "--memory-limit=-5MiB"], ["--memory-limit: must be greater than 0"]),
        (["run", "wordcount-naive", "--scale", "0"], ["scale"]),
        (["run", "wordcount-naive", "--scale", "-2"], ["scale"]),
        (["run", "wordcount-naive", "--scale", "nan"], ["scale"]),
        (["run", "wordcount-naive", "--scheduler-preset", "nope"], ["--scheduler-preset", "no preset 'nope'"]),
        (["run", "no_such_module_xyz:build"], ["cannot import 'no_such_module_xyz'"]),
        (["run", "json:no_such_function"], ["no function 'no_such_function'"]),
        (["run", "tests.helpers.exits_at_import:build"],
         ["cannot import 'tests.helpers.exits_at_import'", "sys.exit(3) at import"]),
        (["run", "wordcount-naive", "--workers", "two"], ["invalid int value"]),
        (["run", "wordcount-naive", "--timeout", "nan"], ["--timeout: must be a finite number of seconds > 0"]),
        (["run", "wordcount-naive", "--timeout", "0"], ["--timeout: must be a finite number of seconds > 0"]),
        (["profile", "wordcount-naive", "--timeout", "-1"], ["--timeout: must be a finite number of seconds"]),
        (["scheduler", "--idle", "inf"], ["--idle: must be a finite number of seconds ≥ 0"]),
        (["scheduler", "--transitions", "0"], ["--transitions: must be at least 1"]),
        (["run", "wordcount-naive", "--memory-limit", "64MiB"], ["--memory-limit: 64MiB is too small for a worker"]),
        (["run", "wordcount-naive", "--memory-limit", "64TiB"], ["--memory-limit: 64TiB is more than this machine"]),
        (["run", "wordcount-naive", "--memory-limit", "1"], ["--memory-limit: 1B is too small"]),
        (["run", "wordcount-naive", "--no-processes", "--memory-limit", "1GiB"], ["not enforced with --no-processes"]),
        (["probe", "--repeats", "0"], ["--repeats: must be at least 1"]),
        (["probe", "--truth-tasks", "-4"], ["--truth-tasks: must be at least 1"]),
        (["probe", "--blocks", "0"], ["--blocks: must be at least 1"]),
        (["probe", "--tiny-tasks", "3", "--blocks", "4"], ["--blocks: 4 blocks of 3 tiny tasks leave some empty"]),
        (["corpora", "--scale", "-1"], ["scale"]),
        (["recommend", "nowhere", "--cores", "4", "--memory", "8GiB"], ["cannot read run record", "No such file"]),
        (["recommend", ".", "--cores", "4", "--memory", "plenty"], ["--memory: 'plenty' is not a size"]),
        (["recommend", ".", "--cores", "0", "--memory", "8GiB"], ["--cores must be at least 1"]),
        (["profile", "no-such-workload"], ["unknown workload 'no-such-workload'"]),
        (["scheduler", "--default", "no/such/preset.toml"], ["cannot read scheduler preset no/such/preset.toml"]),
    ],
)
def test_bad_input_is_one_line_and_nonzero(cli, args: list[str], fragments: list[str], tmp_path: Path) -> None:
    if args[0] == "recommend":  # its RUN, inside this test's directory
        result = cli(args[0], str(tmp_path / args[1]), *args[2:])
    else:
        result = cli(*args, "--results", str(tmp_path))
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "runs").exists()  # refused before anything was written


def test_a_directory_where_a_file_should_be(cli, tmp_path: Path) -> None:
    assert_one_line_error(cli("sweep", str(tmp_path), "--results", str(tmp_path / "r")),
                          f"cannot read matrix {tmp_path}: Is a directory")
    assert_one_line_error(cli("scheduler", "--default", str(tmp_path), "--results", str(tmp_path / "r")),
                          f"cannot read scheduler preset {tmp_path}: Is a directory")
    (tmp_path / "run.json").mkdir()
    assert_one_line_error(cli("recommend", str(tmp_path), "--cores", "2", "--memory", "4GiB"), "is a directory")


def test_unwritable_results_directory(cli, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert_one_line_error(cli("run", "wordcount-naive", "--results", str(blocker / "results")),
                          "results directory", "not writable")


def test_failing_user_workload_is_a_recorded_error(tmp_path: Path, corpus_cache: Path) -> None:
    # a module in the working directory, found as `python -m` would find it
    (tmp_path / "broken_pipeline.py").write_text("def build(corpus):\n    raise RuntimeError('no graph today')\n")
    result = memreplay("run", "broken_pipeline:build", "--workers", "1", "--scale", str(TEST_SCALE),
                       "--results", str(tmp_path / "results"), "--corpora", str(corpus_cache), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    said = " ".join(result.stdout.split())  # the terminal folds a long line at its width
    assert ": error in " in said and "— RuntimeError: no graph today" in said  # and why
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert case.outcome == "error" and case.error == "RuntimeError: no graph today"


def test_the_cli_leaves_the_interpreter_as_it_found_it(cli, tmp_path: Path, corpus_cache: Path) -> None:
    import logging
    import threading

    import distributed  # noqa: F401  (its import configures its loggers: that is not ours to undo)
    import matplotlib

    before = (list(sys.path), threading.excepthook, logging.getLogger("distributed.client").level,
              matplotlib.get_backend())
    assert cli("list").returncode == 0
    assert cli("run", "no-such-workload", "--results", str(tmp_path)).returncode == 2
    # a real case: a cluster, the probes, a timeline plot
    assert cli("run", "wordcount-streaming", "--workers", "1", "--scale", str(TEST_SCALE), "--results",
               str(tmp_path), "--corpora", str(corpus_cache)).returncode == 0
    after = (list(sys.path), threading.excepthook, logging.getLogger("distributed.client").level,
             matplotlib.get_backend())
    assert after == before
