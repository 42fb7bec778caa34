"""``memreplay probe``, the per-task probe's study, at its smallest: its ground-truth graph and
its overhead run on real LocalClusters beside dask-memusage, and its report opened in headless
Chromium with every request off loopback blocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.browser import PLOTS_DRAWN, opened_report
from tests.helpers.cli import memreplay, needs_clear_refs

pytestmark = needs_clear_refs


@pytest.mark.slow
def test_the_probe_accuracy_study_writes_a_report_that_renders(tmp_path: Path) -> None:
    done = memreplay("probe", "--truth-tasks", "4", "--tiny-tasks", "100", "--repeats", "1", "--rows-tasks",
                     "0", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = Path(done.report_path)
    with opened_report(report) as seen:
        drawn = seen.page.evaluate(PLOTS_DRAWN)
        answer = seen.page.locator("section").first.inner_text()
    assert seen.errors == [] and seen.blocked == [] and len(drawn) == 4 and min(drawn) > 500
    assert "memreplay, threads=1: " in answer and "times the wall time without a probe" in answer
    assert "The memory manager's figures on every timeline sample: " in answer  # the timeline's two arms
