"""``memreplay regression BASE [HEAD]`` (``nox -s regression``): both commits built and measured
in clean virtualenvs by ``asv continuous`` (the build command, machine name and dask/distributed
pins of ``asv.conf.json``), then the gated figure compared under the threshold *and* the floor
(``memreplay.analysis.regression``). Its results stay apart from the trend's, in ``.asv/gate/``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from memreplay.analysis.regression import Comparison, GateRule, compare_figures
from memreplay.errors import UserError
from memreplay.records.atomic import atomic_write_text
from memreplay.trend.asv_project import AsvProject, run_asv

__all__ = ["GATED", "GateOutcome", "run_gate"]

# benchmarks/benchmarks.py: the largest peak increase of a task alone in its worker. Gated on
# the shapes with one thread per worker, where every task runs alone.
GATED = "benchmarks.Cases.track_largest_peak_increase"
_ONE_THREAD = re.compile(r"^\d+x1$")


@dataclass(frozen=True)
class GateOutcome:
    base: str
    head: str
    rule: GateRule
    comparisons: list[Comparison]


def _gate_config(project: AsvProject) -> Path:
    """asv.conf.json with absolute paths and the gate's own results directory."""
    directory = project.root / ".asv" / "gate"
    config = {**project.config, "repo": str(project.root), "benchmark_dir": str(project.path("benchmark_dir")),
              "env_dir": str(project.path("env_dir")), "results_dir": str(directory / "results"),
              "html_dir": str(directory / "html")}
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / "asv.conf.json", json.dumps(config, indent=1))
    return directory / "asv.conf.json"


def _gated(project: AsvProject, results: Path, machine: str, commit: str, what: str) -> dict[tuple[str, ...], float]:
    figures = project.read_results(results, machine, commit).get(GATED)
    if not figures:
        raise UserError(f"{what} ({commit[:8]}): asv measured nothing for {GATED} (its output is above)")
    return {key: value for key, value in figures.items() if _ONE_THREAD.match(key[-1])}


def run_gate(root: Path, base: str, head: str, rule: GateRule, machine: str) -> GateOutcome:
    project = AsvProject.at(root)
    base_commit, head_commit = project.commit(base, "BASE"), project.commit(head, "HEAD")
    project.ensure_machine(machine)
    config = _gate_config(project)
    # asv's own table (every Cases figure that moved by the factor) is printed; its exit code
    # is not the verdict: the floor is not asv's to apply
    run_asv(["continuous", "--config", str(config), "--machine", machine, "--factor", f"{1 + rule.threshold:g}",
             "--bench", r"^benchmarks\.Cases\.", "--show-stderr", base_commit, head_commit], root)
    results = config.parent / "results"
    comparisons = compare_figures(_gated(project, results, machine, base_commit, "BASE"),
                                  _gated(project, results, machine, head_commit, "HEAD"), rule)
    return GateOutcome(base_commit, head_commit, rule, comparisons)
