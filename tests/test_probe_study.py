"""``memreplay probe``, the per-task probe's study, at its smallest: its ground-truth graph and
its overhead run on real LocalClusters beside dask-memusage, and its report opened in headless
Chromium with every request off loopback blocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from memreplay.records.schema import ProbeRecord
from memreplay.records.store import load_record
from memreplay.records.task_rows import read_task_rows
from tests.helpers.browser import PLOTS_DRAWN, opened_report
from tests.helpers.cli import memreplay, needs_clear_refs

pytestmark = needs_clear_refs


@pytest.mark.slow
def test_the_probe_accuracy_study_writes_a_report_that_renders(tmp_path: Path) -> None:
    done = memreplay("probe", "--truth-tasks", "4", "--tiny-tasks", "100", "--repeats", "1", "--blocks", "2",
                     "--rows-tasks", "0", "--scale-tasks", "300", "--scale-repeats", "2", "--results", str(tmp_path))
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
    assert scale is not None and set(scale.seconds) == {"none", "memreplay"} and len(scale.held_bytes) == 2
    assert 0 < min(scale.held_bytes) <= max(scale.held_bytes) < 1_000_000
    assert scale.paired_ratio_range[0] <= scale.paired_ratio_median <= scale.paired_ratio_range[1]
    # both arms on each process, the first alternating: one growth per arm, each a process's first graph
    assert scale.arms_per_process == 2 and [len(g) for g in scale.growth_bytes.values()] == [1, 1]
    # the overhead's arms on one cluster, in rounds of one block of every arm (the unprobed arm twice),
    # then dask-memusage over an unprobed run; none's paired ratio its second series over its first
    overhead = record.overhead
    assert overhead is not None and overhead.paired_ratios is not None and overhead.blocks == 2
    assert len(overhead.seconds["none"]) == 2 and len(overhead.paired_ratios["none"]) == 1
    assert overhead.paired_ratios["none"][0] == overhead.seconds["none"][1] / overhead.seconds["none"][0]
    assert all(len(overhead.paired_ratios[arm]) == 1 for arm in ("memreplay", "timeline-rss", "timeline",
                                                                 "dask-memusage"))
    plain = sum(overhead.seconds["none"]) / 2
    assert overhead.paired_ratios["memreplay"][0] == pytest.approx(overhead.seconds["memreplay"][0] / plain)
    # each block of each arm wrote its own rows: 2 blocks of 50 tasks
    run = Path(done.record_path)
    blocks = sorted((run if run.is_dir() else run.parent).glob("cases/csv/overhead-memreplay-0-*/tasks.csv"))
    assert [len(read_task_rows(path)) for path in blocks] == [50, 50]
