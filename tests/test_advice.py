"""Advice that holds when it is followed: sweep the default matrix's quick variant, ask for
advice for several small machines, and run every advised configuration exactly as advised on
the same corpus. Each must finish ok."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.plan.sizes import compact_bytes
from harness.records.schema import SweepRecord
from harness.records.store import load_record

pytestmark = pytest.mark.slow

QUICK_SCALE = 0.2
# configs/default.toml's [quick] variant, without the profiles (they do not change the advice)
QUICK_MATRIX = f"""
[matrix]
workloads = ["wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"]
shapes = [[2, 1], [1, 2]]
memory_limits = ["2GiB"]
scale = {QUICK_SCALE}
timeout_s = 120
fil_profiles = false
"""
MACHINES = [(4, "500MiB"), (4, "1GiB"), (4, "2GiB")]


@pytest.fixture(scope="module")
def quick_sweep(tmp_path_factory: pytest.TempPathFactory, corpus_cache: Path) -> Path:
    from tests.conftest import memreplay

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
