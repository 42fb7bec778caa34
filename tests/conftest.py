"""Shared fixtures: small corpora generated once per session, and a way to call the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from corpora import Corpus, ensure_corpus

TEST_SCALE = 0.02
MEMREPLAY = str(Path(sys.executable).with_name("memreplay"))


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpora")


@pytest.fixture(scope="session")
def text_corpus(corpus_cache: Path) -> Corpus:
    return ensure_corpus("text", TEST_SCALE, corpus_cache)


@pytest.fixture(scope="session")
def image_corpus(corpus_cache: Path) -> Corpus:
    return ensure_corpus("images", TEST_SCALE, corpus_cache)


def memreplay(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the installed ``memreplay`` console script."""
    return subprocess.run([MEMREPLAY, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
