"""Plain-text reports of records for the terminal: cases, sizing model, Fil profiles, advice."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dask.utils import format_bytes

from harness.table import format_table

__all__ = ["model_table", "profile_table", "recommendation_text", "summary_table"]


def recommendation_text(advice: dict) -> str:
    lines = [f"Machine: {advice['cores']} cores, {format_bytes(advice['memory_bytes'])}; keeping "
             f"{advice['margin']:.0%} in reserve leaves {format_bytes(advice['usable_bytes'])}. "
             f"A worker's own footprint, measured in the run: {format_bytes(advice['worker_overhead_bytes'])}.", ""]
    rows = []
    for workload, a in advice["workloads"].items():
        shape = ("does not fit" if not a["tasks_at_once"] else
                 f"{a['n_workers']}x{a['threads_per_worker']}, {format_bytes(a['memory_limit'])} each")
        fastest, cheapest = a["fastest"], a["cheapest"]
        rows.append((workload, format_bytes(a["largest_task_peak_bytes"]), a["tasks_at_once"], shape,
                     f"{fastest['shape']} {fastest['memory_limit']} ({fastest['wall_time_s']:.1f} s)"
                     if fastest else "-",
                     f"{cheapest['shape']} {cheapest['memory_limit']} ({cheapest['cost_gib_s']:.0f} GiB·s)"
                     if cheapest else "-",
                     len(a["oom_cases"])))
    lines.append(format_table(("workload", "largest task", "tasks at once", "use", "fastest in run",
                               "cheapest in run", "oom cases"), rows))
    return "\n".join(lines)


def _signed_bytes(value: int) -> str:
    return ("-" if value < 0 else "") + format_bytes(abs(value))


def model_table(model: dict) -> str:
    rows = [(prefix, m["points"], f"{m['slope']:.2f}", _signed_bytes(m["intercept_bytes"]),
             format_bytes(m["heldout"]["input_bytes"]), _signed_bytes(m["heldout"]["predicted_bytes"]),
             format_bytes(m["heldout"]["measured_bytes"]), f"{m['heldout']['error_percent']}%")
            for prefix, m in sorted(model.items())]
    title = "Peak memory vs input size (linear fit; held out: the largest input, predicted from the rest)"
    headers = ("task prefix", "tasks", "bytes/byte", "intercept", "held-out input", "predicted", "measured", "error")
    return title + "\n\n" + format_table(headers, rows)


def profile_table(profiles: Sequence[dict]) -> str:
    """Fil profiles side by side: the peak, then each workload's top lines."""
    def peak(p: dict) -> str:
        return format_bytes(p["peak_tracked_bytes"]) if p["status"] == "ok" else f"{p['status']}: {p['reason']}"

    def line(p: dict, rank: int) -> str:
        lines = p.get("top_lines") or []
        if rank >= len(lines):
            return ""
        top = lines[rank]
        return f"{Path(top['file']).name}:{top['line']} {top['function']} {top['percent']}%"

    rows = [("peak (Fil: tracked allocations)", *(peak(p) for p in profiles))]
    rows += [(f"line #{rank + 1}", *(line(p, rank) for p in profiles)) for rank in range(5)]
    return format_table(("", *(p["workload"] for p in profiles)), rows)


def summary_table(cases: Sequence[dict]) -> str:
    rows = [
        (c["workload"]["name"], c["config"]["n_workers"], c["config"]["threads_per_worker"],
         format_bytes(c["config"]["memory_limit"]), c["outcome"],
         f"{c['wall_time_s']:.2f}" if c["wall_time_s"] is not None else "-",
         f"{c['cost_gib_s']:.0f}" if c.get("cost_gib_s") is not None else "-", c["answer_check"],
         *_largest_task(c))
        for c in cases
    ]
    headers = ("workload", "workers", "threads", "memory limit", "outcome", "wall s", "GiB·s", "answer",
               "largest task", "its peak increase")
    return format_table(headers, rows)


def _largest_task(case: dict) -> tuple[str, str]:
    """The prefix and peak increase of the task that needed the most memory in a case."""
    by_prefix = (case.get("task_memory") or {}).get("by_prefix", {})
    measured = [(p, s["peak_increase_max_bytes"]) for p, s in by_prefix.items() if s["peak_increase_max_bytes"]]
    if not measured:
        return "-", "-"
    prefix, peak = max(measured, key=lambda item: item[1])
    return prefix, format_bytes(peak)
