"""Two sweeps side by side (``memreplay compare BASE HEAD``): cases matched by workload and
configuration, each figure's change set against the noise floor, outcome changes first, and
the environments that differ.

The noise floor of a figure is the larger of the ``--floor`` (bytes, for memory figures) and
the noise the records show: the spread between repeats of a case (in either run) and, given an
A/A run of BASE (``--noise``), how far that run's figure lay from BASE's. A memory figure
regressed when it is worse by more than the threshold *and* by more than its noise floor (the
gate's rule, :mod:`memreplay.analysis.regression`); an ``ok`` case that ran out of memory, timed
out or failed regressed too. Time and cost are compared the same way but never gate; neither do
the figures that depend on how tasks overlapped (more than one thread per worker) unless the
records measured their noise.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from memreplay.analysis.benchmark_figures import figures_of_case
from memreplay.analysis.regression import Comparison, GateRule, judge
from memreplay.errors import UserError
from memreplay.records.schema import CaseResult, Environment, SweepRecord

__all__ = [
    "FIGURES", "CaseComparison", "EnvironmentDifference", "Figure", "OutcomeChange", "RunComparison",
    "compare_runs",
]

CaseKey = tuple[str, str]  # workload, configuration label (2x1-4GiB)


@dataclass(frozen=True)
class Figure:
    name: str  # the key in figures_of_case
    label: str
    unit: Literal["bytes", "s", "GiB·s"]
    gated: bool  # a memory figure: a regression beyond the rule fails compare


FIGURES = (
    Figure("largest_peak_increase_bytes", "largest task", "bytes", True),  # its peak increase
    Figure("worker_peak_rss_bytes", "worker peak RSS", "bytes", True),
    Figure("worker_footprint_bytes", "worker footprint", "bytes", True),
    Figure("spilled_bytes", "spilled", "bytes", True),  # each worker's peak spilled bytes, summed
    Figure("paused_s", "paused", "s", False),  # worker-seconds paused
    Figure("wall_time_s", "wall time", "s", False),
    Figure("cost_gib_s", "cost", "GiB·s", False),
)

# Compared and shown when they differ; hostname and git_commit are expected to differ: never warned about.
_ENVIRONMENT_WARNED = ("python", "dask", "distributed", "numpy", "cpu_model", "cpu_count", "ram_bytes", "os")
_ENVIRONMENT_SHOWN = (*_ENVIRONMENT_WARNED, "hostname", "git_commit")
# What changes memory figures without changing the code (environment.memory, schema 7): always warned.
_MEMORY_ENVIRONMENT = ("transparent_hugepages", "malloc", "nanny_environ", "cgroup_memory_limit_bytes", "swap_bytes",
                       "worker_memory")
_WORSE_OUTCOME = {"ok": 0, "timeout": 1, "error": 2, "oom": 3}
_OVERLAP_DEPENDENT = frozenset({"largest_peak_increase_bytes", "worker_peak_rss_bytes", "spilled_bytes"})


@dataclass(frozen=True)
class OutcomeChange:
    key: CaseKey
    base: str | None  # None: the case is not in that run
    head: str | None
    # the ok side peaked within a few percent of its kill line and the repeats do not show the
    # other outcome every time: a flip such a case makes between identical runs
    noise: bool = False

    @property
    def regressed(self) -> bool:
        return self.base == "ok" and self.head is not None and self.head != "ok" and not self.noise


@dataclass(frozen=True)
class EnvironmentDifference:
    field: str
    base: object
    head: object
    warned: bool


@dataclass(frozen=True)
class CaseComparison:
    key: CaseKey
    base_outcome: str | None
    head_outcome: str | None
    figures: dict[str, Comparison]  # by Figure.name
    floors: dict[str, float]  # the noise floor each figure was judged against
    shown_only: frozenset[str] = frozenset()  # gated figures this case shows but does not gate on
    outcome_noise: bool = False  # its outcome changed, but only as a borderline case does (OutcomeChange.noise)

    def gates(self, figure: Figure) -> bool:
        return figure.gated and figure.name not in self.shown_only

    def regressed(self, figure: Figure) -> bool:
        return self.gates(figure) and self.figures[figure.name].verdict == "regressed"

    def beyond_floor(self, figure: Figure) -> bool:
        c = self.figures[figure.name]
        return c.base is not None and c.head is not None and abs(c.head - c.base) > self.floors[figure.name]


@dataclass(frozen=True)
class RunComparison:
    rule: GateRule
    cases: list[CaseComparison]
    outcome_changes: list[OutcomeChange]
    environment: list[EnvironmentDifference]
    noise_source: str  # where the noise floor came from, in words

    @property
    def regressions(self) -> list[tuple[CaseKey, Figure, Comparison]]:
        return [(case.key, figure, case.figures[figure.name]) for case in self.cases for figure in FIGURES
                if case.regressed(figure)]

    @property
    def regressed(self) -> bool:
        return bool(self.regressions) or any(change.regressed for change in self.outcome_changes)


def _key(case: CaseResult) -> CaseKey:
    return case.workload.name, case.config.label


def _by_case(record: SweepRecord) -> dict[CaseKey, list[CaseResult]]:
    cases: dict[CaseKey, list[CaseResult]] = defaultdict(list)
    for case in record.cases:
        cases[_key(case)].append(case)
    return cases


def _worst_outcome(cases: Iterable[CaseResult]) -> str:
    return max((case.outcome for case in cases), key=_WORSE_OUTCOME.__getitem__)


def _measured(cases: Iterable[CaseResult]) -> list[dict[str, float | None]]:
    """The figures of every repeat that finished."""
    return [figures for case in cases if (figures := figures_of_case(case)) is not None]


def _values(repeats: list[dict[str, float | None]], figure: str) -> list[float]:
    """One figure in every repeat that measured it."""
    return [value for figures in repeats if (value := figures[figure]) is not None]


def _spread(values: list[float]) -> float:
    return max(values) - min(values) if len(values) > 1 else 0.0


def _environment(base: Environment, head: Environment) -> list[EnvironmentDifference]:
    differences = [EnvironmentDifference(name, getattr(base, name), getattr(head, name), name in _ENVIRONMENT_WARNED)
                   for name in _ENVIRONMENT_SHOWN if getattr(base, name) != getattr(head, name)]
    if base.memory is not None and head.memory is not None:  # before schema 7 neither says
        differences += [EnvironmentDifference(f"memory.{name}", getattr(base.memory, name), getattr(head.memory, name),
                                              True)
                        for name in _MEMORY_ENVIRONMENT if getattr(base.memory, name) != getattr(head.memory, name)]
    return differences


def _worker_settings(cases: list[CaseResult]) -> dict[str, object] | None:
    """The memory settings a case's workers resolved (its first recorded worker's)."""
    for case in cases:
        for worker in case.memory_manager.workers if case.memory_manager else []:
            if worker.settings:
                return {k: v for k, v in worker.settings.items() if k != "memory_limit"}
    return None


def _workers_differ(base: dict[CaseKey, list[CaseResult]],
                    head: dict[CaseKey, list[CaseResult]]) -> list[EnvironmentDifference]:
    """Matched cases whose workers ran under other memory settings (a running cluster's workers,
    or DASK_ variables set in one run only): one warning, with the first such case's settings."""
    for key in base.keys() & head.keys():
        before, after = _worker_settings(base[key]), _worker_settings(head[key])
        if before is not None and after is not None and before != after:
            return [EnvironmentDifference(f"the workers' distributed.worker.memory ({' '.join(key)})", before, after,
                                          True)]
    return []


def _flip_is_noise(before: list[CaseResult], after: list[CaseResult]) -> bool:
    """An outcome change whose ok side was borderline is noise, unless the other side's repeats
    (two or more) all ended the other way."""
    ok_side, other = (before, after) if any(c.outcome == "ok" for c in before) else (after, before)
    if not any(c.borderline for c in ok_side):
        return False
    return not (len(other) > 1 and all(c.outcome != "ok" for c in other))


def _check_comparable(base: SweepRecord, head: SweepRecord, names: tuple[str, str]) -> None:
    scales = base.settings.matrix.scale, head.settings.matrix.scale
    if scales[0] != scales[1]:
        raise UserError(f"{names[0]} ran at scale {scales[0]} and {names[1]} at scale {scales[1]}: "
                        "their inputs differ, so their figures are not comparable")


def compare_runs(base: SweepRecord, head: SweepRecord, rule: GateRule, aa: SweepRecord | None = None,
                 names: tuple[str, str] = ("BASE", "HEAD")) -> RunComparison:
    """Every case of either run, matched by workload and configuration (repeats folded into
    their median). ``aa`` is an A/A run of BASE: its distance from BASE is noise."""
    _check_comparable(base, head, names)
    if aa is not None:
        _check_comparable(base, aa, (names[0], "the A/A run"))
    base_cases, head_cases = _by_case(base), _by_case(head)
    repeats = max(base.settings.matrix.repeats, head.settings.matrix.repeats)
    noise_measured = repeats > 1 or aa is not None
    aa_cases = {key: _measured(cases) for key, cases in _by_case(aa).items()} if aa is not None else {}
    keys = list(dict.fromkeys([*base_cases, *head_cases]))
    cases, changes = [], []
    for key in keys:
        before, after = base_cases.get(key, []), head_cases.get(key, [])
        outcomes = (_worst_outcome(before) if before else None, _worst_outcome(after) if after else None)
        flip_is_noise = outcomes[0] != outcomes[1] and bool(before and after) and _flip_is_noise(before, after)
        if outcomes[0] != outcomes[1]:
            changes.append(OutcomeChange(key, *outcomes, noise=flip_is_noise))
        figures, floors = {}, {}
        measured = _measured(before), _measured(after)
        for figure in FIGURES:
            values = _values(measured[0], figure.name), _values(measured[1], figure.name)
            noise = max(_spread(values[0]), _spread(values[1]))
            if key in aa_cases and values[0] and (again := _values(aa_cases[key], figure.name)):
                noise = max(noise, abs(statistics.median(again) - statistics.median(values[0])))
            floor = max(noise, rule.floor) if figure.unit == "bytes" else noise
            floors[figure.name] = floor
            medians = tuple(statistics.median(v) if v else None for v in values)
            figures[figure.name] = judge(key, *medians, GateRule(rule.threshold, floor))
        # With several threads a worker's tasks overlap, and both its peak RSS and its largest
        # task (which holds its neighbours' memory) move with how they happened to overlap: 10-15 %
        # between two default sweeps of the same code. Such a figure gates only against noise
        # the records measured (repeats or an A/A run); without, it is shown, not gated.
        threads = (before or after)[0].config.threads_per_worker
        shown_only = _OVERLAP_DEPENDENT if threads > 1 and not noise_measured else frozenset()
        cases.append(CaseComparison(key, *outcomes, figures=figures, floors=floors, shown_only=shown_only,
                                    outcome_noise=flip_is_noise))
    # outcome changes first, worst first: an ok case that ran out of memory is the headline
    changes.sort(key=lambda c: (not c.regressed, -_WORSE_OUTCOME.get(c.head or "ok", 0)))
    sources = [f"the spread of {repeats} repeats"] if repeats > 1 else []
    if aa is not None:
        sources.append("an A/A run of BASE")
    noise_source = " and ".join(sources) if sources else "none in the records, which have no repeats and no A/A run"
    return RunComparison(rule, cases, changes,
                         _environment(base.environment, head.environment) + _workers_differ(base_cases, head_cases),
                         noise_source)

