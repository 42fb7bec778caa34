"""Default versus trimmed scheduler footprint: per-structure table, saving, noise, reconciliation."""

from __future__ import annotations

from typing import Any

from dask.utils import format_bytes

from harness.scheduler_footprint import PUBLISHED_BYTES_PER_ENTRY
from harness.table import format_table

__all__ = ["compare_footprints", "render_footprints"]


def _per_entry(structure: dict[str, int]) -> float | None:
    return structure["bytes"] / structure["entries"] if structure["entries"] else None


def compare_footprints(default: dict[str, Any], trimmed: dict[str, Any], again: dict[str, Any]) -> dict[str, Any]:
    names = sorted(set(default["structures"]) | set(trimmed["structures"]))
    empty = {"entries": 0, "bytes": 0}
    rows = []
    for name in names:
        d, t = default["structures"].get(name, empty), trimmed["structures"].get(name, empty)
        rows.append({"structure": name, "default": d, "trimmed": t, "default_bytes_per_entry": _per_entry(d),
                     "trimmed_bytes_per_entry": _per_entry(t), "saving_bytes": d["bytes"] - t["bytes"],
                     "published_bytes_per_entry": PUBLISHED_BYTES_PER_ENTRY.get(name)})
    structures_saving = sum(row["saving_bytes"] for row in rows)
    rss_saving = default["rss_end_bytes"] - trimmed["rss_end_bytes"]
    return {
        "distributed": default["profile"]["distributed"],
        "rows": rows,
        "structures_default_bytes": sum(s["bytes"] for s in default["structures"].values()),
        "structures_saving_bytes": structures_saving,
        "rss_default_bytes": default["rss_end_bytes"],
        "rss_trimmed_bytes": trimmed["rss_end_bytes"],
        "rss_default_again_bytes": again["rss_end_bytes"],
        "rss_saving_bytes": rss_saving,
        "rss_saving_percent": round(100 * rss_saving / default["rss_end_bytes"], 1),
        # A/A: the same configuration twice; the saving means something only well above this
        "rss_noise_bytes": abs(default["rss_end_bytes"] - again["rss_end_bytes"]),
        # how much of the RSS difference the measured structures account for
        "reconciled_percent": round(100 * structures_saving / rss_saving, 1) if rss_saving > 0 else None,
    }


def render_footprints(comparison: dict[str, Any]) -> str:
    def per_entry(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    rows = [(r["structure"], r["default"]["entries"], format_bytes(r["default"]["bytes"]),
             per_entry(r["default_bytes_per_entry"]), r["trimmed"]["entries"], format_bytes(r["trimmed"]["bytes"]),
             per_entry(r["trimmed_bytes_per_entry"]), per_entry(r["published_bytes_per_entry"]),
             format_bytes(r["saving_bytes"]))
            for r in comparison["rows"]]
    c = comparison
    lines = [
        f"Scheduler log structures, distributed {c['distributed']} (deep sizes on the live objects)", "",
        format_table(("structure", "entries", "bytes", "B/entry", "trimmed entries", "trimmed bytes",
                      "trimmed B/entry", "published B/entry", "saving"), rows),
        "",
        f"Scheduler RSS at the end: default {format_bytes(c['rss_default_bytes'])}, trimmed "
        f"{format_bytes(c['rss_trimmed_bytes'])}, default again (A/A) {format_bytes(c['rss_default_again_bytes'])}",
        f"Saving: {format_bytes(c['rss_saving_bytes'])} ({c['rss_saving_percent']}% of RSS); "
        f"A/A noise {format_bytes(c['rss_noise_bytes'])}",
        f"The structures' own saving, {format_bytes(c['structures_saving_bytes'])}, is "
        f"{c['reconciled_percent']}% of the RSS saving.",
    ]
    return "\n".join(lines)
