"""From a sweep's record: how many tasks a machine can run at once, which shape and memory
limit to use, and which measured configuration was fastest and cheapest without running out
of memory."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from harness.config import compact_bytes

__all__ = ["TERMINATE_FRACTION", "recommend"]

TERMINATE_FRACTION = 0.95  # dask's nanny kills a worker above this share of its memory limit
_STEP = 64 * 2**20


def _hungriest_task(cases: list[dict[str, Any]], model: dict[str, Any]) -> dict[str, int]:
    """Per workload, the largest peak increase of one task. A prefix the sizing model covers
    uses its peak measured with the task alone in its worker; with threads > 1 a row can hold
    a neighbour's memory too."""
    peaks: dict[str, int] = defaultdict(int)
    for case in cases:
        name = case["workload"]["name"]
        for prefix, summary in (case.get("task_memory") or {}).get("by_prefix", {}).items():
            alone = model.get(prefix, {}).get("max_peak_bytes")
            peaks[name] = max(peaks[name], alone if alone is not None else summary["peak_increase_max_bytes"] or 0)
    return dict(peaks)


def _shape(cores: int, usable: int, overhead: int, peak: int) -> dict[str, Any]:
    """Most tasks at once, as single-threaded worker processes or as threads of one worker."""
    as_processes = min(cores, usable // (overhead + peak)) if overhead + peak else cores
    as_threads = min(cores, (usable - overhead) // peak) if peak else cores
    if max(as_processes, as_threads) < 1:
        return {"tasks_at_once": 0}
    if as_processes >= as_threads:  # processes: no GIL between tasks, one limit per task
        workers, threads = as_processes, 1
    else:  # one worker's overhead instead of several: more tasks fit
        workers, threads = 1, as_threads
    limit = max(_STEP, usable // workers // _STEP * _STEP)
    return {"tasks_at_once": workers * threads, "n_workers": workers, "threads_per_worker": threads,
            "memory_limit": limit, "needs_per_worker_bytes": int((overhead + threads * peak) / TERMINATE_FRACTION)}


def recommend(record: dict[str, Any], cores: int, memory: int, margin: float = 0.2) -> dict[str, Any]:
    cases = record["cases"]
    finished = [c for c in cases if c["outcome"] == "ok"]
    overheads = [c["task_memory"]["worker_baseline_bytes"] for c in finished
                 if (c.get("task_memory") or {}).get("worker_baseline_bytes")]
    overhead = int(statistics.median(overheads)) if overheads else 0
    usable = int(memory * (1 - margin))
    advice = {}
    model = record.get("summary", {}).get("model", {})
    for workload, peak in sorted(_hungriest_task(finished, model).items()):
        ok = [c for c in finished if c["workload"]["name"] == workload]
        advice[workload] = {
            "largest_task_peak_bytes": peak,
            **_shape(cores, usable, overhead, peak),
            "fastest": _pick(ok, "wall_time_s"),
            "cheapest": _pick(ok, "cost_gib_s"),
            "oom_cases": sorted(c["id"] for c in cases if c["workload"]["name"] == workload and c["outcome"] == "oom"),
        }
    return {"cores": cores, "memory_bytes": memory, "margin": margin, "usable_bytes": usable,
            "worker_overhead_bytes": overhead, "workloads": advice}


def _pick(cases: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    if not cases:
        return None
    best = min(cases, key=lambda c: c[key])
    config = best["config"]
    return {"id": best["id"], "wall_time_s": best["wall_time_s"], "cost_gib_s": best["cost_gib_s"],
            "shape": f"{config['n_workers']}x{config['threads_per_worker']}",
            "memory_limit": compact_bytes(config["memory_limit"])}
