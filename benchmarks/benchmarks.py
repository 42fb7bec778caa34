"""Thin asv benchmarks. Each class's ``setup_cache`` runs its part through the harness into a
normal run record, once per commit, and the ``track_`` benchmarks read its figures:

- ``Cases``: the cases of ``configs/asv.toml`` (every workload × 1x1, 2x1, 1x2);
- ``Profiles``: Fil's profile of each workload's task function on its largest input;
- ``Scheduler``: the scheduler study's quick variant, default versus trimmed.

Each part runs only when one of its benchmarks is selected, so the regression gate, which
selects ``GATED`` alone, pays for the cases and nothing else.

asv's own ``peakmem_`` sees only the benchmark process, not Dask's workers, so memory is
tracked with ``track_`` benchmarks returning the harness's figures, in bytes. Wall time is
tracked too, never gated. Run records go to ``$MEMREPLAY_RESULTS`` (default: ``results/`` of
this checkout), in directories named ``runs/<time>-asv-<part>-<commit>-<id>``: that is where a
figure of commit ``<commit>`` comes from. Everything else goes to a temporary directory that is
removed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from memreplay.analysis.benchmark_figures import case_figures, profile_figures, scheduler_figures
from memreplay.execute.sweep import run_sweep
from memreplay.plan.matrix import load_matrix
from memreplay.plan.packaged import packaged_config
from memreplay.records.store import prepare_results_directory
from memreplay.studies.fil import profile_workloads
from memreplay.studies.scheduler import run_study

ROOT = Path(__file__).resolve().parents[1]
MATRIX = Path(os.environ.get("MEMREPLAY_ASV_MATRIX", packaged_config("asv.toml")))
PRESETS = packaged_config("scheduler")
WORKLOADS = ["wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean"]
SHAPES = ["1x1", "2x1", "1x2"]
# What the regression gate compares (harness/trend/gate.py reads this name from asv's results).
GATED = "Cases.track_largest_peak_increase"
# A new matrix (scale, shapes, workloads) starts new series rather than bending the old ones.
VERSION = hashlib.sha256(MATRIX.read_bytes()).hexdigest()[:12] if MATRIX.exists() else "no-matrix"
# The smoke test's knob: fewer scheduler transitions than the quick study's 40,000.
TRANSITIONS = int(os.environ["MEMREPLAY_ASV_TRANSITIONS"]) if os.environ.get("MEMREPLAY_ASV_TRANSITIONS") else None


def _label(part: str) -> str:
    commit = os.environ.get("ASV_COMMIT")  # set by asv for the commit being measured
    return f"asv-{part}-{commit[:8]}" if commit else f"asv-{part}"


@contextmanager
def _places() -> Iterator[tuple[Path, Path]]:
    """The results directory (kept) and a scratch directory for corpora (removed)."""
    results = prepare_results_directory(os.environ.get("MEMREPLAY_RESULTS") or ROOT / "results")
    scratch = Path(tempfile.mkdtemp(prefix="memreplay-asv-"))
    try:
        yield results, scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_cases(matrix: Path = MATRIX) -> dict[str, Any]:
    """The matrix's cases (without Fil, which ``Profiles`` runs, or size ladders)."""
    plan = dataclasses.replace(load_matrix(matrix), fil_profiles=False, size_ladder=False)
    with _places() as (results, scratch):
        run = run_sweep(plan, results, scratch / "corpora", label=_label("cases"))
    return {"cases": case_figures(run.record), "record": str(run.path)}


def measure_profiles(matrix: Path = MATRIX) -> dict[str, Any]:
    """Fil's peak for each workload of the matrix, at its scale."""
    plan = load_matrix(matrix)
    workloads = list(dict.fromkeys(case.workload.name for case in plan.cases))
    with _places() as (results, scratch):
        run = profile_workloads(workloads, plan.scale, plan.timeout_s or 600, results, scratch / "corpora",
                                run_label=_label("profiles"))
    return {"profiles": profile_figures(run.record.profiles), "record": str(run.path)}


def measure_scheduler(transitions: int | None = TRANSITIONS) -> dict[str, Any]:
    """The scheduler study's quick variant under both presets."""
    with _places() as (results, _):
        run = run_study(PRESETS / "default.toml", PRESETS / "trimmed.toml", results, quick=True,
                        transitions=transitions, run_label=_label("scheduler"))
    return {"scheduler": scheduler_figures(run.record), "record": str(run.path)}


# asv caches a ``setup_cache`` by the place of its function in this file: one function a part.
def _cases_once(self: object) -> dict[str, Any]:
    return _said(measure_cases())


def _profiles_once(self: object) -> dict[str, Any]:
    return _said(measure_profiles())


def _scheduler_once(self: object) -> dict[str, Any]:
    return _said(measure_scheduler())


def _said(figures: dict[str, Any]) -> dict[str, Any]:
    print(f"memreplay run record: {figures['record']}")
    return figures


def _figure(value: float | None) -> float:
    return float("nan") if value is None else value  # asv shows a figure not measured as missing


class Cases:
    """Per workload and shape. ``track_largest_peak_increase`` is what the regression gate
    compares, on the shapes with one thread per worker (with two, a task is alone only by
    chance, so the figure is tracked there but not gated)."""

    params = (WORKLOADS, SHAPES)
    param_names = ["workload", "shape"]
    version = VERSION
    timeout = 1800
    setup_cache = _cases_once

    @staticmethod
    def _case(figures: dict[str, Any], workload: str, shape: str, name: str) -> float:
        return _figure(figures["cases"].get((workload, shape), {}).get(name))

    def track_largest_peak_increase(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        """The largest peak increase of one task alone in its worker (exact per-task probe)."""
        return self._case(figures, workload, shape, "largest_peak_increase_bytes")

    track_largest_peak_increase.unit = "bytes"

    def track_worker_footprint(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        return self._case(figures, workload, shape, "worker_footprint_bytes")

    track_worker_footprint.unit = "bytes"

    def track_worker_peak_rss(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        """The highest RSS a worker process reached (sampled every 50 ms)."""
        return self._case(figures, workload, shape, "worker_peak_rss_bytes")

    track_worker_peak_rss.unit = "bytes"

    def track_wall_time(self, figures: dict[str, Any], workload: str, shape: str) -> float:
        return self._case(figures, workload, shape, "wall_time_s")

    track_wall_time.unit = "seconds"


class Profiles:
    params = (WORKLOADS,)
    param_names = ["workload"]
    version = VERSION
    timeout = 1800
    setup_cache = _profiles_once

    def track_fil_peak(self, figures: dict[str, Any], workload: str) -> float:
        """Fil's peak tracked allocations of the workload's task function on its largest input."""
        return _figure(figures["profiles"].get(workload))

    track_fil_peak.unit = "bytes"


class Scheduler:
    """The scheduler's own footprint under each preset (the study's quick variant)."""

    params = (["default", "trimmed"],)
    param_names = ["preset"]
    version = VERSION
    timeout = 1800
    setup_cache = _scheduler_once

    def track_scheduler_rss(self, figures: dict[str, Any], preset: str) -> float:
        return _figure(figures["scheduler"][preset]["rss_bytes"])

    track_scheduler_rss.unit = "bytes"

    def track_structure_bytes(self, figures: dict[str, Any], preset: str) -> float:
        """Deep bytes of the scheduler's bounded logs (transition log, events, task stream...)."""
        return _figure(figures["scheduler"][preset]["structure_bytes"])

    track_structure_bytes.unit = "bytes"
