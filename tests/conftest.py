"""Shared fixtures: small corpora generated once per session, and memreplay called in this
process (``cli``: fast, for everything that needs no process of its own). Helpers that are
not fixtures live in ``tests/helpers/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from memreplay.cli import main
from memreplay.corpora import Corpus, ensure_corpus
from tests.helpers.cli import TEST_SCALE, Result
from tests.helpers.slurm import SlurmCluster, SlurmUnavailable, start_slurm


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    """A one-node SLURM for the session (each xdist worker has its own), stopped at its end; the
    test is skipped, saying why, where SLURM cannot run."""
    try:
        cluster = start_slurm(tmp_path_factory.mktemp("slurm"))
    except SlurmUnavailable as error:
        pytest.skip(f"SLURM: {error}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpora")


@pytest.fixture(scope="session")
def text_corpus(corpus_cache: Path) -> Corpus:
    return ensure_corpus("text", TEST_SCALE, corpus_cache)


@pytest.fixture(scope="session")
def image_corpus(corpus_cache: Path) -> Corpus:
    return ensure_corpus("images", TEST_SCALE, corpus_cache)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``cli("run", ...)``: memreplay's ``main`` in this process, its output captured."""
    def call(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call



# --- how `nox -s tests` shares the test files between its pytest workers -----------------------
#
# Each test file runs on one worker (--dist loadfile), so that its module fixtures (a sweep, a
# recorded trace, a running cluster, the asv run) run once. The files are handed out longest
# first, so that the workers finish together: those below by the seconds they took on two shared
# cores (a file that grows past a minute is better split), then the other files with slow tests,
# then the rest, in the order collected. (--dist loadgroup would split files finer, but it
# ignores its groups on pytest 9.2: pytest-dev/pytest-xdist#1386.)
SECONDS = {"test_advice.py": 85, "test_trend.py": 75, "test_report.py": 70, "test_replay.py": 50,
           "test_slurm.py": 35, "test_packaging.py": 30, "test_memory_manager.py": 30,
           "test_docs.py": 45, "test_scheduler_footprint.py": 45, "test_sweep.py": 40, "test_any_cluster_own.py": 35,
           "test_probe_study.py": 35, "test_sweep_interrupted.py": 30, "test_task_memory.py": 25,
           "test_any_cluster.py": 25, "test_size_ladder.py": 20, "test_cli.py": 20}


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not an xdist worker: keep the order collected
        return
    slow = {item.path.name for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: (-SECONDS.get(item.path.name, 0), item.path.name not in slow))  # stable
