"""``nox -s bench-plan``: does a rollout plan hold when it is followed? As a user would: sweep a
small matrix with size ladders, plan for four times its input on three catalog machine types
that fit this machine (each a "machine" of its cores and memory), run each planned shape on the
corpus at four times the scale, one after the other, and compare the plan's total time and worker peak RSS with
what was measured. Then the image workload planned on the whole example catalog, against one
task per core. Writes ``RESULTS/plan-check/STAMP/plan-check.json`` and prints the table.

Goals (issue #25): predicted time within 25 %, predicted worker peak RSS within 10 %; for the
image workload, a machine type other than one task per core's, with its saving.

``python -m memreplay.studies.plan_check [--results DIR] [--scale S] [--factor F]``: scale is
the swept corpus's (default 0.5), factor how much larger the planned input is (default 4: tasks
of up to 128 MiB of image, long enough that a second of noise is not the answer).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from memreplay.plan.packaged import example_catalog
from memreplay.plan.sizes import compact_bytes
from memreplay.records.atomic import atomic_write_text

__all__ = ["MACHINES", "WORKLOADS", "check_plans", "main"]

WORKLOADS = ("imagechunks", "wordcount-naive")
# 2 cores and 4, 8 or 16 GiB: each fits a 2-core, 24 GiB machine as it is
MACHINES = ("c7i.large", "m7i.large", "r7i.large")
TIME_GOAL, RSS_GOAL = 0.25, 0.10


def _memreplay(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "memreplay", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode not in (0, 1):
        raise SystemExit(f"memreplay {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return done


def _said(done: subprocess.CompletedProcess[str], prefix: str) -> str:
    return next(line.removeprefix(prefix) for line in reversed(done.stdout.splitlines()) if line.startswith(prefix))


def _catalog(directory: Path) -> Path:
    """The example catalog's MACHINES, as they are."""
    import tomllib

    shipped = tomllib.loads(example_catalog().read_text())
    kept = [m for m in shipped["machine"] if m["name"] in MACHINES]
    lines = []
    for machine in kept:
        lines += ["[[machine]]", *(f"{key} = {json.dumps(value)}" for key, value in machine.items()), ""]
    path = directory / "machines.toml"
    path.write_text("\n".join(lines))
    return path


def check_plans(results: Path, scale: float, factor: float, corpora: Path | None) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = results / "plan-check" / stamp
    out.mkdir(parents=True)
    corpus = ["--corpora", str(corpora or results / "corpora")]  # one cache across runs: the corpora are reused
    matrix = out / "swept.toml"
    matrix.write_text("\n".join([
        "[matrix]", f"workloads = {json.dumps(list(WORKLOADS))}", "shapes = [[2, 1], [1, 2]]",
        'memory_limits = ["2GiB"]', f"scale = {scale}", "timeout_s = 600", "fil_profiles = false",
        "size_ladder = true", "ladder_repeats = 3", ""]))
    print(f"sweeping {', '.join(WORKLOADS)} at scale {scale} with size ladders ...", file=sys.stderr)
    swept = Path(_said(_memreplay("sweep", str(matrix), "--results", str(out), *corpus), "results: ")).parent
    planned = _memreplay("plan", str(swept), "--machines", str(_catalog(out)), "--input", f"{factor:g}x", "--json")
    plan = json.loads(planned.stdout)
    rows = []
    for workload in WORKLOADS:
        for machine in plan["workloads"][workload]["machines"]:
            if not machine["fits"]:
                rows.append({"workload": workload, "machine": machine["machine"], "fits": False,
                             "reason": machine["reason"]})
                continue
            print(f"running {workload} as planned on {machine['machine']} ...", file=sys.stderr)
            done = _memreplay("run", workload, "--workers", str(machine["n_workers"]), "--threads",
                              str(machine["threads_per_worker"]), "--memory-limit",
                              compact_bytes(machine["memory_limit_bytes"]), "--scale", f"{scale * factor:g}",
                              "--results", str(out), *corpus)
            (case,) = json.loads(Path(_said(done, "results: ")).read_text())["cases"]
            workers = {k: v for k, v in (case.get("timeline") or {}).get("peak_rss_bytes", {}).items()
                       if k != "scheduler"}
            measured_rss = max(workers.values(), default=None)
            rows.append({
                "workload": workload, "machine": machine["machine"], "fits": True, "outcome": case["outcome"],
                "shape": f"{machine['n_workers']}x{machine['threads_per_worker']}",
                "memory_limit": compact_bytes(machine["memory_limit_bytes"]),
                "predicted_time_s": machine["total_time_s"], "predicted_time_range_s": machine["total_time_range_s"],
                "measured_time_s": case["wall_time_s"],
                "predicted_worker_rss_bytes": machine["worker_peak_rss_bytes"],
                "measured_worker_rss_bytes": measured_rss,
            })
    for row in rows:
        if row.get("fits") and row["measured_time_s"] and row["measured_worker_rss_bytes"]:
            row["time_error"] = row["predicted_time_s"] / row["measured_time_s"] - 1
            row["rss_error"] = row["predicted_worker_rss_bytes"] / row["measured_worker_rss_bytes"] - 1
            row["meets_goals"] = abs(row["time_error"]) <= TIME_GOAL and abs(row["rss_error"]) <= RSS_GOAL
    example = json.loads(_memreplay("plan", str(swept), "--machines", "example", "--input", "100GiB", "--task-size",
                                    "256MiB", "--workload",
                                    "imagechunks", "--json").stdout)["workloads"]["imagechunks"]
    chosen = next((m for m in example["machines"] if m["machine"] == example["chosen"]), None)
    summary = {"created": stamp, "swept": str(swept), "scale": scale, "factor": factor, "rows": rows,
               "goals": {"time": TIME_GOAL, "worker_rss": RSS_GOAL},
               "image_plan": {"chosen": example["chosen"], "naive": example["naive"],
                              "chosen_idle_core_share": chosen["idle_core_share"] if chosen else None,
                              "chosen_cost": chosen["cost"] if chosen else None}}
    atomic_write_text(out / "plan-check.json", json.dumps(summary, indent=1) + "\n")
    print(_table(summary))
    print(f"\nresults: {out / 'plan-check.json'}")
    return summary


def _table(summary: dict[str, Any]) -> str:
    from memreplay.report.table import format_table

    rows = []
    for row in summary["rows"]:
        if not row.get("fits"):
            rows.append((row["workload"], row["machine"], "does not fit", row["reason"], "", "", "", "", "", ""))
            continue
        rows.append((row["workload"], row["machine"], f"{row['shape']} {row['memory_limit']}",
                     f"{row['predicted_time_s']:.1f} s", f"{row['measured_time_s'] or 0:.1f} s",
                     f"{row.get('time_error', 0):+.1%}", f"{row['predicted_worker_rss_bytes'] / 2**20:,.0f} MiB",
                     f"{(row['measured_worker_rss_bytes'] or 0) / 2**20:,.0f} MiB", f"{row.get('rss_error', 0):+.1%}",
                     f"{'met' if row.get('meets_goals') else 'missed'} ({row['outcome']})"))
    image = summary["image_plan"]
    naive = image["naive"] or {}
    return (format_table(("workload", "machine", "planned", "time: plan", "measured", "error", "worker RSS: plan",
                          "measured", "error", "goals"), rows, width=None)
            + "\n\nimagechunks, 100 GiB in chunks of 256 MiB, on the example catalog: "
            f"the plan picks {image['chosen']} "
            f"({(image['chosen_idle_core_share'] or 0):.0%} of cores idle); one task per core picks "
            f"{naive.get('machine')} ({(naive.get('idle_core_share') or 0):.0%} idle): "
            + (f"the plan saves {naive['saving_percent']:.0f} %" if naive.get("saving_percent") is not None
               else "no saving computed"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memreplay.studies.plan_check", description=__doc__)
    parser.add_argument("--results", default="results")
    parser.add_argument("--scale", type=float, default=0.5, help="the swept corpus's scale (default 0.5)")
    parser.add_argument("--factor", type=float, default=4.0, help="the planned input over the swept (default 4)")
    parser.add_argument("--corpora", help="corpus cache (default RESULTS/corpora)")
    args = parser.parse_args(argv)
    if not (args.scale > 0 and args.factor > 0):
        parser.error("--scale and --factor must be greater than 0")
    summary = check_plans(Path(args.results), args.scale, args.factor, Path(args.corpora) if args.corpora else None)
    return 0 if all(row.get("meets_goals") for row in summary["rows"] if row.get("fits")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
