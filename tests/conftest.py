"""Shared fixtures: small corpora generated once per session, and memreplay called in this
process (``cli``: fast, for everything that needs no process of its own). Helpers that are
not fixtures live in ``tests/helpers/``."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpora import Corpus, ensure_corpus
from harness.cli import main
from tests.helpers.cli import TEST_SCALE, Result


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
