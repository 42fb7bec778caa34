"""``memreplay probe``, the per-task probe's study, at its smallest: its ground-truth graph and
its overhead run on real LocalClusters beside dask-memusage, and its report opened in headless
Chromium with every request off loopback blocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from memreplay.records.schema import ProbeRecord
from memreplay.records.store import load_record
from tests.helpers.browser import PLOTS_DRAWN, opened_report
from tests.helpers.cli import memreplay, needs_clear_refs

pytestmark = needs_clear_refs


@pytest.mark.slow
def test_the_probe_accuracy_study_writes_a_report_that_renders(tmp_path: Path) -> None:
    done = memreplay("probe", "--truth-tasks", "4", "--tiny-tasks", "100", "--repeats", "1", "--rows-tasks",
                     "0", "--scale-tasks", "300", "--scale-repeats", "1", "--results", str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = Path(done.report_path)
    with opened_report(report) as seen:
        drawn = seen.page.evaluate(PLOTS_DRAWN)
        answer = seen.page.locator("section").first.inner_text()
    assert seen.errors == [] and seen.blocked == [] and len(drawn) == 4 and min(drawn) > 500
    assert "memreplay, threads=1: " in answer and "times the wall time without a probe" in answer
    assert "The memory manager's figures on every timeline sample: " in answer  # the timeline's two arms
    # the at-scale arm: a scheduler process of its own, without a probe and with the collectors
    assert "At 300 tiny tasks on a scheduler process of its own: " in answer and "bytes per task row" in answer
    record = load_record(done.record_path, ProbeRecord)
    scale = record.at_scale
    assert scale is not None and set(scale.seconds) == {"none", "memreplay"} and len(scale.held_bytes) == 1
    assert 0 < scale.held_bytes[0] < 1_000_000 and scale.paired_ratio_range[0] <= scale.paired_ratio_median
