"""Default versus trimmed scheduler footprint: in the scheduler study, per structure, the
saving, the A/A noise, and how much of the RSS saving the measured structures account for; in
a sweep with scheduler presets, what each preset saves per configuration."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from memreplay.records.schema import (
    CaseResult,
    FootprintComparison,
    SchedulerScenario,
    StructureComparison,
    StructureSize,
)

__all__ = ["PUBLISHED_BYTES_PER_ENTRY", "TrimmingSaving", "compare_footprints", "trimming_savings"]

# A published estimate, for comparison: bytes per entry at least.
PUBLISHED_BYTES_PER_ENTRY = {"transition_log": 368, "events": 304}


def _per_entry(structure: StructureSize) -> float | None:
    return structure.bytes / structure.entries if structure.entries else None


def compare_footprints(default: SchedulerScenario, trimmed: SchedulerScenario,
                       again: SchedulerScenario) -> FootprintComparison:
    names = sorted(set(default.structures) | set(trimmed.structures))
    empty = StructureSize(entries=0, bytes=0)
    rows = []
    for name in names:
        d, t = default.structures.get(name, empty), trimmed.structures.get(name, empty)
        rows.append(StructureComparison(
            structure=name, default=d, trimmed=t, default_bytes_per_entry=_per_entry(d),
            trimmed_bytes_per_entry=_per_entry(t), saving_bytes=d.bytes - t.bytes,
            published_bytes_per_entry=PUBLISHED_BYTES_PER_ENTRY.get(name)))
    structures_saving = sum(row.saving_bytes for row in rows)
    rss_saving = default.rss_end_bytes - trimmed.rss_end_bytes
    return FootprintComparison(
        distributed=default.preset["distributed"],
        rows=rows,
        structures_default_bytes=sum(s.bytes for s in default.structures.values()),
        structures_saving_bytes=structures_saving,
        rss_default_bytes=default.rss_end_bytes,
        rss_trimmed_bytes=trimmed.rss_end_bytes,
        rss_default_again_bytes=again.rss_end_bytes,
        rss_saving_bytes=rss_saving,
        rss_saving_percent=round(100 * rss_saving / default.rss_end_bytes, 1),
        # A/A: the same preset twice; the saving means something only well above this
        rss_noise_bytes=abs(default.rss_end_bytes - again.rss_end_bytes),
        # how much of the RSS difference the measured structures account for
        reconciled_percent=round(100 * structures_saving / rss_saving, 1) if rss_saving > 0 else None,
    )


class TrimmingSaving(NamedTuple):
    """One configuration of a sweep under the default scheduler preset and under another: what
    the other saves (positive) or costs (negative) of the scheduler's own memory."""

    workload: str
    configuration: str  # shape and memory limit, e.g. 2x1-2GiB
    preset: str
    peak_default_bytes: int
    peak_other_bytes: int
    end_saving_bytes: int
    structures_saving_bytes: int
    entries_saving: int

    @property
    def peak_saving_bytes(self) -> int:
        return self.peak_default_bytes - self.peak_other_bytes


def _total(structures: dict[str, StructureSize], field: str) -> int:
    return sum(getattr(size, field) for size in structures.values())


def trimming_savings(cases: Iterable[CaseResult]) -> list[TrimmingSaving]:
    """For each configuration measured under the default scheduler preset and another, the
    scheduler's peak, end and structure savings of the other against the default."""
    measured = [case for case in cases if case.scheduler is not None]

    def configuration(case: CaseResult) -> tuple[Any, ...]:
        config = case.config
        return case.workload.name, config.n_workers, config.threads_per_worker, config.memory_limit, \
            config.processes, case.repeat

    defaults = {configuration(case): case for case in measured if case.config.scheduler_preset == "default"}
    savings = []
    for case in measured:
        base = defaults.get(configuration(case))
        if case.config.scheduler_preset == "default" or base is None:
            continue
        d, o = base.scheduler, case.scheduler
        assert d is not None and o is not None
        savings.append(TrimmingSaving(
            workload=case.workload.name, configuration=base.config.label, preset=case.config.scheduler_preset,
            peak_default_bytes=d.rss_peak_bytes, peak_other_bytes=o.rss_peak_bytes,
            end_saving_bytes=d.rss_end_bytes - o.rss_end_bytes,
            structures_saving_bytes=_total(d.structures, "bytes") - _total(o.structures, "bytes"),
            entries_saving=_total(d.structures, "entries") - _total(o.structures, "entries"),
        ))
    return savings
