"""Default versus trimmed scheduler footprint: per structure, the saving, the A/A noise, and
how much of the RSS saving the measured structures account for."""

from __future__ import annotations

from harness.records.schema import FootprintComparison, SchedulerScenario, StructureComparison, StructureSize

__all__ = ["PUBLISHED_BYTES_PER_ENTRY", "compare_footprints"]

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
