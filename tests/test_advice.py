"""Advice that holds when it is followed: sweep the default matrix's quick variant, ask for
advice for several small machines, and run every advised configuration exactly as advised on
the same corpus. Each must finish ok."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memreplay.analysis.task_summary import prefix_peak_increase
from memreplay.plan.sizes import compact_bytes
from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record

pytestmark = pytest.mark.slow

QUICK_SCALE = 0.2
# configs/default.toml's [quick] variant, without the profiles (they do not change the advice)
# but with its size ladders (advice for larger inputs comes from them)
QUICK_MATRIX = f"""
[matrix]
workloads = ["wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"]
shapes = [[2, 1], [1, 2]]
memory_limits = ["2GiB"]
scale = {QUICK_SCALE}
timeout_s = 120
fil_profiles = false
size_ladder = true
ladder_repeats = 2
"""
MACHINES = [(4, "500MiB"), (4, "1GiB"), (4, "2GiB")]


@pytest.fixture(scope="module")
def quick_sweep(tmp_path_factory: pytest.TempPathFactory, corpus_cache: Path) -> Path:
    from tests.helpers.cli import memreplay

    directory = tmp_path_factory.mktemp("advice")
    (directory / "quick.toml").write_text(QUICK_MATRIX)
    result = memreplay("sweep", str(directory / "quick.toml"), "--results", str(directory), "--corpora",
                       str(corpus_cache), timeout=900)
    assert result.returncode == 0, result.stderr
    return Path(result.record_path).parent


@pytest.mark.parametrize(("cores", "memory"), MACHINES)
def test_every_advised_configuration_runs_ok(cli, quick_sweep: Path, corpus_cache: Path, tmp_path: Path,
                                             cores: int, memory: str) -> None:
    result = cli("recommend", str(quick_sweep), "--cores", str(cores), "--memory", memory, "--json")
    assert result.returncode == 0, result.stderr
    advice = json.loads(result.stdout)
    assert set(advice["workloads"]) == {"wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"}
    followed = 0
    for workload, advised in advice["workloads"].items():
        if not advised["tasks_at_once"]:
            assert advised["reason"].startswith("does not fit"), advised
            continue
        limit = advised["memory_limit"]
        assert limit >= 256 * 2**20 and advised["n_workers"] * limit <= advice["usable_bytes"]
        run = cli("run", workload, "--workers", str(advised["n_workers"]), "--threads",
                  str(advised["threads_per_worker"]), "--memory-limit", compact_bytes(limit), "--scale",
                  str(QUICK_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache))
        (case,) = load_record(run.record_path, SweepRecord).cases
        assert case.outcome == "ok", (workload, advised, case.error)
        followed += 1
    assert followed >= 2  # the streaming word count fits even the smallest machine


def test_the_terminal_advice_says_why_a_workload_does_not_fit(cli, quick_sweep: Path) -> None:
    result = cli("recommend", str(quick_sweep), "--cores", "4", "--memory", "500MiB")
    assert result.returncode == 0, result.stderr
    assert "imagechunks: does not fit: one worker running one task needs a" in result.stdout
    assert "its nanny kills it at 95% of its limit" in result.stdout


def test_advice_for_inputs_larger_than_any_measured_holds_when_followed(cli, quick_sweep: Path, corpus_cache: Path,
                                                                        tmp_path: Path) -> None:
    """Sized from the size ladder for the largest chunk of a corpus 2.5 times the swept one,
    the advised configuration runs that corpus ok, and its largest task is what was predicted."""
    from memreplay.corpora import ensure_corpus

    larger = ensure_corpus("images", 2.5 * QUICK_SCALE, corpus_cache)
    input_size = max(f.size for f in larger.files)
    swept = load_record(quick_sweep, SweepRecord)
    (ladder,) = [ladder for ladder in swept.summary.ladders if ladder.workload == "imagechunks-lean"]
    assert ladder.outcome == "ok" and input_size > 2 * ladder.model.heldout.input_bytes
    result = cli("recommend", str(quick_sweep), "--cores", "2", "--memory", "4GiB", "--input-size",
                 str(input_size), "--json")
    assert result.returncode == 0, result.stderr
    advised = json.loads(result.stdout)["workloads"]["imagechunks-lean"]
    assert advised["predicted_by"].startswith("the size ladder (held-out error") and advised["tasks_at_once"]
    predicted = advised["largest_peak_increase_bytes"]
    run = cli("run", "imagechunks-lean", "--workers", str(advised["n_workers"]), "--threads",
              str(advised["threads_per_worker"]), "--memory-limit", compact_bytes(advised["memory_limit"]),
              "--scale", str(2.5 * QUICK_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    (case,) = load_record(run.record_path, SweepRecord).cases
    assert case.outcome == "ok", case.error
    measured = prefix_peak_increase(case.task_memory.by_prefix[ladder.prefix])
    assert abs(predicted - measured) <= 0.10 * measured, (predicted, measured)


def test_input_size_without_a_size_model_is_said_per_workload(cli, tmp_path: Path, corpus_cache: Path) -> None:
    run = cli("run", "wordcount-streaming", "--workers", "1", "--scale", "0.02", "--results", str(tmp_path),
              "--corpora", str(corpus_cache))
    result = cli("recommend", str(Path(run.record_path).parent), "--cores", "2", "--memory", "4GiB",
                 "--input-size", "1GiB")
    assert result.returncode == 0, result.stderr
    assert "wordcount-streaming: no size ladder in this run to predict a larger input from" in result.stdout
    bad = cli("recommend", str(Path(run.record_path).parent), "--cores", "2", "--memory", "4GiB",
              "--input-size", "-3")
    assert bad.returncode == 2 and "--input-size" in bad.stderr


def test_a_plan_holds_when_followed(cli, quick_sweep: Path, corpus_cache: Path, tmp_path: Path) -> None:
    """A "machine" of 2 cores with memory for one worker running one task of a corpus 2.5 times
    the swept one, but not two, planned from the quick sweep; then that corpus run on a local
    cluster of the planned shape: no worker is killed, the measured time per task is of the order
    the plan's range says, and one core sits idle, as the plan says."""
    from memreplay.analysis.recommend import worker_limit
    from memreplay.corpora import ensure_corpus
    from memreplay.plan.distributed_config import kill_fraction
    from memreplay.records.task_rows import read_task_rows

    workload, factor = "imagechunks-lean", 2.5
    larger = ensure_corpus("images", factor * QUICK_SCALE, corpus_cache)
    sized = cli("recommend", str(quick_sweep), "--cores", "1", "--memory", "64GiB", "--input-size",
                str(max(f.size for f in larger.files)), "--json")
    assert sized.returncode == 0, sized.stderr
    advice = json.loads(sized.stdout)
    peak = advice["workloads"][workload]["largest_peak_increase_bytes"]
    one = worker_limit(advice["worker_footprint_bytes"], 1, peak, kill_fraction())
    catalog = tmp_path / "machine.toml"
    catalog.write_text(f'[[machine]]\nname = "half"\ncores = 2\nmemory = {int(1.5 * one / 0.8)}\n'
                       "price_per_hour = 1.0\n")
    planned = cli("plan", str(quick_sweep), "--machines", str(catalog), "--input", f"{factor}x", "--workload",
                  workload, "--json")
    assert planned.returncode == 0, planned.stderr
    (machine,) = json.loads(planned.stdout)["workloads"][workload]["machines"]
    assert machine["fits"] and (machine["n_workers"], machine["threads_per_worker"]) == (1, 1), machine
    assert machine["idle_core_share"] == 0.5 and machine["idle_reason"].startswith("memory runs out first")
    run = cli("run", workload, "--workers", "1", "--threads", "1", "--memory-limit",
              compact_bytes(machine["memory_limit_bytes"]), "--scale", str(factor * QUICK_SCALE),
              "--results", str(tmp_path), "--corpora", str(corpus_cache))
    (case,) = load_record(run.record_path, SweepRecord).cases
    assert case.outcome == "ok" and case.oom is None and not case.task_memory.worker_died, case.error
    (ladder,) = [ladder for ladder in load_record(quick_sweep, SweepRecord).summary.ladders
                 if ladder.workload == workload]
    rows = [row for row in read_task_rows(Path(case.directory) / case.task_memory.csv)
            if row.task_prefix == ladder.prefix and not row.alias]
    assert len(rows) == len(larger.files)
    measured = sum(row.duration_s for row in rows) / len(rows)
    low, high = machine["time_per_task_range_s"]
    # The range comes from the quick sweep's timings, taken while the suite's other worker loaded
    # the machine; this run may meet less load (a CI run measured 3.4 s against a low end of
    # 4.6 s) or more. How close plans come to measured times is bench-plan's figure; here the
    # time must be of the planned order, within a factor of two of the range.
    assert low / 2 <= measured <= 2 * high, (low, measured, high, machine["calibration"])
    # as many tasks at once as planned: one, so one of the two cores idle
    at_once = max(sum(1 for other in rows if other.start < row.stop and row.start < other.stop) for row in rows)
    assert 1 - at_once / machine["cores"] == machine["idle_core_share"]
