"""Thin asv benchmarks: ``setup_cache`` runs the cases of ``configs/asv.toml`` (and the
scheduler study's quick variant) through the harness into normal run records, once per
commit; the ``track_`` benchmarks read their figures.

asv's own ``peakmem_`` sees only the benchmark process, not Dask's workers, so memory is
tracked with ``track_`` benchmarks returning the harness's figures, in bytes. Wall time is
tracked too (never gated). The run records are kept under ``$MEMREPLAY_RESULTS`` (default
``results/``); every other file goes to a temporary directory that is removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.analysis.benchmark_figures import case_figures, profile_figures, scheduler_figures
from harness.execute.sweep import run_sweep
from harness.plan.matrix import load_matrix
from harness.records.store import prepare_results_directory
from harness.studies.scheduler import run_study

ROOT = Path(__file__).resolve().parents[1]
MATRIX = Path(os.environ.get("MEMREPLAY_ASV_MATRIX", ROOT / "configs" / "asv.toml"))
PRESETS = ROOT / "configs" / "scheduler"
WORKLOADS = ["wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"]
SHAPES = ["1x1", "2x1", "1x2"]
# a new matrix (scale, shapes, workloads) starts new series rather than bending the old ones
VERSION = hashlib.sha256(MATRIX.read_bytes()).hexdigest()[:12] if MATRIX.exists() else "no-matrix"


def measure(matrix: Path = MATRIX, scheduler_transitions: int | None = None) -> dict[str, Any]:
    """Run the cases and the scheduler study; return their figures and where their records are."""
    results = prepare_results_directory()
    scratch = Path(tempfile.mkdtemp(prefix="memreplay-asv-"))
    try:
        sweep = run_sweep(load_matrix(matrix), results, scratch / "corpora", label="asv")
        scheduler = run_study(PRESETS / "default.toml", PRESETS / "trimmed.toml", results, quick=True,
                              transitions=scheduler_transitions)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"cases": case_figures(sweep.record), "profiles": profile_figures(sweep.record),
            "scheduler": scheduler_figures(scheduler.record),
            "records": {"sweep": str(sweep.path), "scheduler": str(scheduler.path)}}


def _measured_once(self: object) -> dict[str, Any]:
    """Every class's ``setup_cache``: asv keys the cache by this function's place in the file,
    so the cases run once per commit for all the classes."""
    figures = measure()
    print(f"memreplay run records: {figures['records']}")
    return figures


def _case(figures: dict[str, Any], workload: str, shape: str, name: str) -> float:
    value = figures["cases"].get((workload, shape), {}).get(name)
    return float("nan") if value is None else value  # asv shows a case that did not finish as missing


class Cases:
    """Per workload and shape. ``track_largest_peak_increase`` is what the regression gate uses."""

    params = (WORKLOADS, SHAPES)
    param_names = ["workload", "shape"]
    version = VERSION
    timeout = 1800
    setup_cache = _measured_once

    def track_largest_peak_increase(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        """The largest peak increase of one task alone in its worker (exact per-task probe)."""
        return _case(figures, workload, shape, "largest_peak_increase_bytes")

    track_largest_peak_increase.unit = "bytes"

    def track_worker_footprint(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        return _case(figures, workload, shape, "worker_footprint_bytes")

    track_worker_footprint.unit = "bytes"

    def track_worker_peak_rss(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        """The highest RSS a worker process reached (sampled every 50 ms)."""
        return _case(figures, workload, shape, "worker_peak_rss_bytes")

    track_worker_peak_rss.unit = "bytes"

    def track_wall_time(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        return _case(figures, workload, shape, "wall_time_s")

    track_wall_time.unit = "seconds"


class Profiles:
    params = (WORKLOADS,)
    param_names = ["workload"]
    version = VERSION
    timeout = 1800
    setup_cache = _measured_once

    def track_fil_peak(self, figures: dict[str, Any], workload: str) -> float:
        """Fil's peak tracked allocations of the workload's hungriest task."""
        value = figures["profiles"].get(workload)
        return float("nan") if value is None else value

    track_fil_peak.unit = "bytes"


class Scheduler:
    """The scheduler's own footprint under each preset (the study's quick variant)."""

    params = (["default", "trimmed"],)
    param_names = ["preset"]
    version = VERSION
    timeout = 1800
    setup_cache = _measured_once

    def track_scheduler_rss(self, figures: dict[str, Any], preset: str) -> float:
        return figures["scheduler"][preset]["rss_bytes"]

    track_scheduler_rss.unit = "bytes"

    def track_structure_bytes(self, figures: dict[str, Any], preset: str) -> float:
        """Deep bytes of the scheduler's bounded logs (transition log, events, task stream...)."""
        return figures["scheduler"][preset]["structure_bytes"]

    track_structure_bytes.unit = "bytes"
