"""The asv benchmarks cannot rot: their functions run here at a tiny scale through the real
harness (clusters, Fil, a scheduler process), and each tracked figure is a real measurement."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest

from tests.conftest import TEST_SCALE

pytestmark = pytest.mark.slow

TINY = f"""
[matrix]
workloads = ["wordcount-naive", "imagechunks-lean"]
shapes = [[1, 1], [2, 1]]
memory_limits = ["2GiB"]
scale = {TEST_SCALE}
timeout_s = 120
fil_profiles = true
"""


def test_every_tracked_figure_is_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import benchmarks

    monkeypatch.setenv("MEMREPLAY_RESULTS", str(tmp_path / "results"))
    (tmp_path / "asv.toml").write_text(TINY)
    figures = benchmarks.measure(tmp_path / "asv.toml", scheduler_transitions=6_000)
    assert all(Path(path).exists() for path in figures["records"].values())  # each figure points at its record
    assert not list(Path(tempfile.gettempdir()).glob("memreplay-asv-*"))  # scratch space removed

    cases, profiles, scheduler = benchmarks.Cases(), benchmarks.Profiles(), benchmarks.Scheduler()
    assert benchmarks.Cases.setup_cache is benchmarks.Profiles.setup_cache is benchmarks.Scheduler.setup_cache
    for workload in ("wordcount-naive", "imagechunks-lean"):
        for shape in ("1x1", "2x1"):
            peak = cases.track_largest_peak_increase(figures, workload, shape)
            footprint = cases.track_worker_footprint(figures, workload, shape)
            assert 2**20 < peak < 2**30 and 20 * 2**20 < footprint < 2**30
            assert cases.track_worker_peak_rss(figures, workload, shape) > footprint
            assert cases.track_wall_time(figures, workload, shape) > 0
        assert profiles.track_fil_peak(figures, workload) > 2**20
    # a shape that was not run is missing, not zero
    assert math.isnan(cases.track_largest_peak_increase(figures, "wordcount-naive", "1x2"))
    assert benchmarks.Cases.track_largest_peak_increase.unit == "bytes"
    assert set(figures["scheduler"]) == {"default", "trimmed"}
    assert scheduler.track_structure_bytes(figures, "trimmed") < scheduler.track_structure_bytes(figures, "default")
    assert scheduler.track_scheduler_rss(figures, "default") > 20 * 2**20
