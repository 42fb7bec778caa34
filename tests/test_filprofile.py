"""Real Fil and memory_profiler runs of one task function, in subprocesses of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from memreplay.records.schema import ProfileRecord, TaskProfile
from memreplay.records.store import load_record
from memreplay.studies.fil import choose_input, profile_task
from tests.helpers.cli import TEST_SCALE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def naive_profile(text_corpus, tmp_path_factory: pytest.TempPathFactory) -> TaskProfile:
    large = text_corpus.path(text_corpus.files[-1])
    return profile_task("wordcount-naive", large, tmp_path_factory.mktemp("fil-naive"))


def test_naive_word_count_peak_is_the_split(naive_profile: TaskProfile) -> None:
    assert naive_profile.outcome == "ok", naive_profile
    top = naive_profile.top_lines[0]
    assert top.function == "count_words_naive"
    assert top.code == "words = text.split()"
    assert top.percent > 50


def test_prof_sum_agrees_with_svg_title(naive_profile: TaskProfile) -> None:
    assert abs(naive_profile.peak_tracked_bytes - naive_profile.svg_title_bytes) <= 0.01 * naive_profile.svg_title_bytes
    assert naive_profile.outputs == ["peak-memory.prof", "peak-memory.svg", "peak-memory-reversed.svg", "index.html"]
    assert naive_profile.figure.startswith("tracked allocations at peak")


def test_memory_profiler_shows_rss_line_by_line(naive_profile: TaskProfile) -> None:
    lines = {line.code: line for line in naive_profile.line_rss}
    assert naive_profile.line_rss_error is None
    # every line of the task function that ran, with the RSS after it; reading and splitting grow it
    assert {"text = handle.read()", "words = text.split()", "return counts.most_common(TOP)"} <= set(lines)
    assert all(line.rss_bytes > 10 * 2**20 and line.occurrences >= 1 for line in lines.values())
    assert lines["words = text.split()"].increment_bytes > 0


def test_a_crash_under_fil_is_a_recorded_failure(text_corpus, tmp_path: Path) -> None:
    result = profile_task("tests.helpers.fil_workloads:crashing", text_corpus.paths[0], tmp_path)
    assert result.outcome == "failed"
    assert "crashing on purpose" in result.reason


def test_profile_chooses_the_largest_input_without_rows(text_corpus) -> None:
    assert choose_input(text_corpus).name == "large.txt"


def test_profile_command_prints_both_side_by_side(cli, corpus_cache: Path, tmp_path: Path) -> None:
    result = cli("profile", "wordcount-naive", "wordcount-streaming", "--scale", str(TEST_SCALE),
                 "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    headings = [line for line in result.stdout.splitlines() if "tracked allocations at peak" in line]
    assert [h.split(":")[0] for h in headings] == ["wordcount-naive", "wordcount-streaming"]  # one after the other
    assert "words = text.split()" in result.stdout  # the line itself, not only its number
    assert "threadpoolctl" not in result.stdout  # only lines that hold memory
    assert "(memory_profiler)" in result.stdout
    record = load_record(result.record_path, ProfileRecord)
    assert [p.workload for p in record.profiles] == ["wordcount-naive", "wordcount-streaming"]
    # the run's report: each profile's top lines with their source, the flame graph inlined
    page = Path(result.report_path).read_text()
    assert Path(result.report_path) == Path(result.record_path).parent / "report.html"
    assert "words = text.split()" in page and page.count('src="data:image/svg+xml;base64,') == 2
