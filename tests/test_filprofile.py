"""Real Fil runs of one task function, in a subprocess of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.filprofile import profile_task
from tests.conftest import memreplay


@pytest.fixture(scope="module")
def naive_profile(text_corpus, tmp_path_factory: pytest.TempPathFactory) -> dict:
    large = text_corpus.path(text_corpus.files[-1])
    return profile_task("wordcount-naive", large, tmp_path_factory.mktemp("fil-naive"))


def test_naive_word_count_peak_is_the_split(naive_profile: dict) -> None:
    assert naive_profile["status"] == "ok", naive_profile
    top = naive_profile["top_lines"][0]
    assert top["function"] == "count_words_naive"
    assert top["code"] == "words = text.split()"
    assert top["percent"] > 50


def test_prof_sum_agrees_with_svg_title(naive_profile: dict) -> None:
    assert abs(naive_profile["peak_tracked_bytes"] - naive_profile["svg_title_bytes"]) <= (
        0.01 * naive_profile["svg_title_bytes"]
    )
    assert naive_profile["outputs"] == ["peak-memory.prof", "peak-memory.svg", "peak-memory-reversed.svg",
                                        "index.html"]
    assert naive_profile["figure"].startswith("tracked allocations at peak")


def test_a_crash_under_fil_is_a_recorded_failure(text_corpus, tmp_path: Path) -> None:
    result = profile_task("tests.fil_workloads:crashing", text_corpus.paths[0], tmp_path)
    assert result["status"] == "failed"
    assert "crashing on purpose" in result["reason"]


def test_profile_command_prints_both_side_by_side(corpus_cache: Path, tmp_path: Path) -> None:
    from tests.conftest import TEST_SCALE

    result = memreplay("profile", "wordcount-naive", "wordcount-streaming", "--scale", str(TEST_SCALE),
                       "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0]
    assert "wordcount-naive" in header and "wordcount-streaming" in header
    assert "wordcount.py:27 count_words_naive" in result.stdout or "count_words_naive" in result.stdout
