"""Record & replay: a real pipeline of "the user's own" (word counts and a task-based shuffle,
on its own LocalCluster, tests/helpers/user_pipeline.py) recorded by ``memreplay record``,
replayed as ``replay:TRACE`` on the same configuration, its fidelity checked; an
out-of-memory pipeline replayed out of memory; the Python API; bad traces; a trace read as a
stream."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import dask
import dask.bag as db
import pytest

from memreplay import record
from memreplay.corpora import ensure_corpus
from memreplay.execute.cluster import local_cluster
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from memreplay.workloads.replay import replay
from memreplay.workloads.trace import (
    TraceCluster,
    TraceEnd,
    TraceHeader,
    TraceTask,
    index_trace,
    iter_tasks,
    write_trace,
)
from memreplay.workloads.wordcount import count_words_naive
from tests.helpers.cli import FUSES_BAG_PARTITIONS, MEMREPLAY, assert_one_line_error, needs_clear_refs, write_matrix

pytestmark = needs_clear_refs

PIPELINE = str(Path(__file__).parent / "helpers" / "user_pipeline.py")
SCALE = 1.0  # 354 tasks, about 4 s of them on 2 workers


def _record(tmp: Path, corpora: Path, mode: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    trace = tmp / f"{mode}.json"
    done = subprocess.run([MEMREPLAY, "record", "--output", str(trace), "--", sys.executable, PIPELINE,
                           str(corpora), str(SCALE), mode], capture_output=True, text=True, timeout=600)
    return done, trace


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("recorded")
    corpora = tmp / "corpora"
    ensure_corpus("text", SCALE, corpora)  # generated before, not while, the pipeline is recorded
    done, trace = _record(tmp, corpora, "ok")
    assert done.returncode == 0, done.stderr
    assert f"trace: {trace}" in done.stdout and "outcome ok" in done.stdout
    return trace, corpora


@pytest.mark.slow
def test_a_trace_holds_the_shape_and_no_data_code_or_key_names(recorded: tuple[Path, Path]) -> None:
    trace, corpora = recorded
    index = index_trace(trace)
    assert index.header.cluster == TraceCluster(2, 1, 2**30)
    assert index.end.outcome == "ok" and index.end.tasks == index.tasks > 9
    tasks = list(iter_tasks(trace))
    prefixes = {task.prefix for task in tasks}
    assert {"count_words_naive", "shuffle-group", "shuffle-split"} <= prefixes
    assert ("shuffle-join" in prefixes) == FUSES_BAG_PARTITIONS
    # older dask fuses the first join and the grouping into the steps before them, in a task whose
    # name (past dask's 120 characters for a fused name, so cut short) yields its first step's prefix
    grouping = "shuffle-group" if FUSES_BAG_PARTITIONS else "flatten"
    assert max(t.peak_increase_bytes for t in tasks if t.prefix == grouping) > 10 * 2**20
    assert any(task.deps for task in tasks) and any(task.transfer_s > 0 for task in tasks)
    text = trace.read_text()
    for secret in ("book-00", "large.txt", str(corpora), "from_sequence-", "def ", "import "):
        assert secret not in text


@pytest.mark.slow
def test_a_replay_on_the_recorded_configuration_holds_all_three(cli, recorded: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    """Three replays (one sweep, repeats = 3): each one's peaks and outcome hold; the span, which
    the other tests running beside this one disturb, is near the recorded one as the median of
    the three."""
    trace, _ = recorded
    matrix = write_matrix(tmp_path, f"""
[matrix]
workloads = ["replay:{trace}"]
shapes = [[2, 1]]
memory_limits = ["1GiB"]
scale = 0.02
repeats = 3
size_ladder = false
fil_profiles = false
""")
    result = cli("sweep", str(matrix), "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Replay fidelity" in result.stdout  # each replay's three checks; a span may miss alone (the median holds)
    record = load_record(result.record_path, SweepRecord)
    fidelities = [case.fidelity for case in record.cases]
    for fidelity in fidelities:
        assert fidelity is not None and fidelity.same_configuration
        assert fidelity.peaks_ok and fidelity.compared == fidelity.tasks, fidelity  # 1 thread: every task alone
        assert fidelity.outcome_ok and fidelity.outcome_replay == "ok", fidelity
    spans = sorted(f.span_error_percent for f in fidelities if f is not None and f.span_error_percent is not None)
    # Wall time beside the suite's other tests on 2 cores: 8.0, 15.2 and 15.5 % in one CI run, so
    # the 15 % goal is a benchmark's to measure, not this test's. A replay that ran its tasks for
    # other durations than recorded (none, or twice) is off by far more than this bound.
    assert len(spans) == 3 and abs(spans[1]) <= 40, spans
    # the replayed prefixes are the recorded ones: recommend sizes the user's pipeline from them
    assert set(record.cases[0].task_memory.by_prefix) >= {"count_words_naive", "shuffle-group"}
    advice = cli("recommend", result.record_path, "--cores", "4", "--memory", "8GiB")
    assert advice.returncode == 0, advice.stderr


@pytest.mark.slow
def test_a_replay_on_another_configuration_says_the_span_is_not_compared(cli, recorded: tuple[Path, Path],
                                                                           tmp_path: Path) -> None:
    trace, _ = recorded
    result = cli("run", f"replay:{trace}", "--workers", "1", "--threads", "2", "--memory-limit", "2GiB",
                 "--scale", "0.02", "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    fidelity = load_record(result.record_path, SweepRecord).cases[0].fidelity
    assert fidelity is not None and not fidelity.same_configuration and fidelity.span_ok is None
    assert "another configuration" in result.stdout


@pytest.mark.slow
def test_an_out_of_memory_pipeline_replays_out_of_memory(cli, tmp_path: Path) -> None:
    done, trace = _record(tmp_path, tmp_path / "corpora", "oom")
    assert done.returncode != 0  # the pipeline itself failed: KilledWorker
    assert "outcome oom" in done.stdout, done.stdout + done.stderr
    died = [task for task in iter_tasks(trace) if task.state == "worker-died"]
    assert died and died[0].peak_increase_bytes > 200 * 2**20
    result = cli("run", f"replay:{trace}", "--workers", "1", "--threads", "1", "--memory-limit", "400MiB",
                 "--scale", "0.02", "--corpora", str(tmp_path / "corpora"), "--results", str(tmp_path / "r"))
    case = load_record(result.record_path, SweepRecord).cases[0]
    assert case.outcome == "oom" and case.fidelity is not None and case.fidelity.outcome_ok, case


def test_a_killed_task_replayed_grows_to_its_workers_kill_line_and_holds_it() -> None:
    """Whatever else the machine does, the replayed task's memory stays over the recorded
    worker's kill line (here 95 % of 300 MiB) until its nanny can act; with no nanny, it lets go."""
    # VmHWM, this process's own peak RSS: ru_maxrss would also count the pytest worker it was spawned from
    grow = ("import re, time; from memreplay.workloads.synthetic import grow_to_kill_line; "
            "started = time.perf_counter(); grow_to_kill_line(300 * 2**20, hold_s=0.5); "
            "peak = re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1); "
            "print(int(peak) * 1024, time.perf_counter() - started)")
    done = subprocess.run([sys.executable, "-c", grow], capture_output=True, text=True, timeout=120, check=True)
    peak, seconds = map(float, done.stdout.split())
    assert 0.95 * 300 * 2**20 < peak <= (0.95 * 300 + 16 + 16) * 2**20  # past the line by at most a step or two
    assert 0.5 <= seconds < 30


def test_the_python_api_records_what_runs_inside_the_block(tmp_path: Path, text_corpus) -> None:
    trace = tmp_path / "api.json"
    with local_cluster(ClusterConfig(1, 1, 2**30)) as (_, client):
        with record(trace):
            db.from_sequence(text_corpus.paths, npartitions=len(text_corpus.files)).map(count_words_naive).compute()
        dask.compute(db.from_sequence(range(3)).map(str))  # after the block: not in the trace
    prefixes = {task.prefix for task in iter_tasks(trace)}
    assert "count_words_naive" in prefixes and "str" not in prefixes
    assert index_trace(trace).header.cluster == TraceCluster(1, 1, 2**30)


def test_record_without_a_client_is_refused(tmp_path: Path) -> None:
    from memreplay.errors import UserError

    with pytest.raises(UserError, match="no Dask client"):
        with record(tmp_path / "t.json"):
            pass


@pytest.mark.parametrize(("arguments", "fragments"), [
    ([], ["record", "after --"]),
    (["--output", "/no/such/dir/t.json", "--", "true"], ["--output", "no such directory"]),
    (["--", "no-such-command-xyz"], ["cannot run", "no-such-command-xyz"]),
    (["--", sys.executable, "-c", "print('no dask here')"], ["no trace written", "no Dask client"]),
])
def test_record_refuses_in_one_line(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arguments: list[str],
                                    fragments: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(cli("record", *arguments), *fragments)


def _write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


HEADER = {"kind": "header", "format": "memreplay-trace", "version": 1, "created": "2026-11-30", "dask": "x",
          "distributed": "x", "cluster": {"n_workers": 1, "threads_per_worker": 1, "memory_limit": 2**30}}


def _task(id_: str, deps: list[int] = (), peak: int = 2**20) -> dict:
    return {"kind": "task", "id": id_, "prefix": "f", "deps": list(deps), "duration_s": 0.01,
            "peak_increase_bytes": peak, "input_bytes": 0, "output_bytes": 10, "state": "memory"}


END = {"kind": "end", "tasks": 2, "outcome": "ok", "span_s": 0.1}
A, B = "a" * 16, "b" * 16  # task ids are key hashes: 16 hex digits


@pytest.mark.parametrize(("lines", "cut", "fragments"), [
    ([HEADER, _task(A), _task(B, [0])], False, ["no end line", "truncated"]),
    ([HEADER, _task(A), _task(B, [0]), END], True, ["line 4", "cut off"]),
    ([{**HEADER, "version": 9}, _task(A), _task(B, [0]), END], False, ["trace version 9", "reads versions 1 and 2"]),
    ([HEADER, _task(A, [1]), _task(B, [0]), END], False, ["line 2", "does not come before it", "cycle"]),
    ([HEADER, _task(A), _task(B, [0], peak=-5), END], False, ["line 3", ">= 0", "peak_increase_bytes"]),
    ([{"hello": 1}], False, ["line 1", "not a memreplay trace"]),
    ([HEADER, _task("not-a-hash"), END], False, ["line 2", "$.id"]),
])
def test_a_bad_trace_is_one_line(cli, tmp_path: Path, lines: list[dict], cut: bool, fragments: list[str]) -> None:
    trace = _write(tmp_path / "bad.json", lines)
    if cut:
        trace.write_bytes(trace.read_bytes()[:-5])
    result = cli("run", f"replay:{trace}", "--results", str(tmp_path / "r"))
    assert_one_line_error(result, str(trace), *fragments)


def test_a_missing_trace_is_one_line(cli, tmp_path: Path) -> None:
    assert_one_line_error(cli("run", f"replay:{tmp_path / 'nope.json'}", "--results", str(tmp_path)),
                          "nope.json", "cannot read")
    assert_one_line_error(cli("run", "replay:", "--results", str(tmp_path)), "give the trace's path")


def test_a_trace_is_read_as_a_stream(tmp_path: Path) -> None:
    """Its index holds one number per task, not the trace: a 100,000-task trace (26 MB) is
    indexed in well under a tenth of its size."""
    count = 100_000
    tasks = (TraceTask(id=f"{i:016x}", prefix="a-rather-long-task-prefix-as-pipelines-have",
                       deps=[i - 1] if i else [], duration_s=0.001, peak_increase_bytes=2**20,
                       input_bytes=10, output_bytes=10, state="memory") for i in range(count))
    trace = tmp_path / "big.json"
    write_trace(trace, TraceHeader(format="memreplay-trace", version=1, created="x", dask="x", distributed="x",
                                   cluster=None), tasks, TraceEnd(tasks=count, outcome="ok", span_s=1.0))
    size = trace.stat().st_size
    tracemalloc.start()
    index = index_trace(trace)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert index.tasks == count and index.last_use[0] == 1 and index.last_use[count - 1] == -1
    assert peak < size / 10, (peak, size)


def test_a_replay_streams_in_windows_and_releases_what_it_no_longer_needs(tmp_path: Path) -> None:
    """Windows of 7 tasks over a graph whose dependencies cross windows: every task runs once."""
    def tasks():
        for i in range(40):
            deps = [j for j in (i - 1, i - 9) if j >= 0]
            yield TraceTask(id=f"{i:016x}", prefix="step", deps=deps, duration_s=0.0, peak_increase_bytes=2**20,
                            input_bytes=0, output_bytes=1000, state="memory")
    trace = tmp_path / "chain.json"
    write_trace(trace, TraceHeader(format="memreplay-trace", version=1, created="x", dask="x", distributed="x",
                                   cluster=None), tasks(), TraceEnd(tasks=40, outcome="ok", span_s=0.1))
    with local_cluster(ClusterConfig(1, 2, 2**30)) as (_, client):
        assert replay(client, trace, timeout_s=120, window=7) == 40
        deadline = time.monotonic() + 10
        while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)) == 0  # nothing left held
