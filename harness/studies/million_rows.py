"""``nox -s bench-report``: the report and compare at a million task rows. As a user would: one
small real run (``memreplay run``), copied twice, each copy's case given a generated
``tasks.csv`` of a million rows shaped like its own (its prefixes and workers, fresh keys,
lognormal peak increases; the second copy's peaks 10 % larger); then ``memreplay report`` of one
and ``memreplay compare`` of the two, each in a fresh process, repeated, timed and its peak RSS
read from the kernel (``wait4``). Writes ``RESULTS/million-rows/STAMP/million-rows.json`` and
prints the table.

Goals (issue #26): a ``report.html`` of at most about 5 MB written in at most about 10 s; a
compare in at most about 30 s and 1 GiB.

``python -m memreplay.studies.million_rows [--results DIR] [--rows N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from memreplay.records.atomic import atomic_write_text
from memreplay.records.task_rows import COLUMNS, MIB

__all__ = ["COMPARE_GOAL", "REPORT_GOAL", "generate_task_rows", "main", "measure"]

ROWS = 1_000_000
REPORT_GOAL = {"seconds": 10.0, "bytes": 5_000_000}
COMPARE_GOAL = {"seconds": 30.0, "peak_rss_bytes": 2**30}
_INDEX = {name: i for i, name in enumerate(COLUMNS)}


def generate_task_rows(template: Path, target: Path, rows: int, seed: int = 1, peak_factor: float = 1.0) -> None:
    """A ``tasks.csv`` of ``rows`` rows shaped like ``template``'s (its prefixes, workers and
    states in turn, each key made unique, starts 2 ms apart), peak increases drawn lognormal
    (median 440 kB) times ``peak_factor``; written beside ``target`` and moved into place."""
    with open(template, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        if tuple(next(reader, ())) != COLUMNS:
            raise ValueError(f"{template}: not a memreplay tasks.csv of today's columns")
        shapes = [cells for cells in reader if cells and cells[_INDEX["alias"]] == "false"]
    if not shapes:
        raise ValueError(f"{template}: no task row to shape the generated rows on")
    rng = random.Random(seed)
    start = float(shapes[0][_INDEX["start"]] or time.time())
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for number in range(rows):
            cells = list(shapes[number % len(shapes)])
            baseline = int(cells[_INDEX["baseline_bytes"]] or 80 * MIB)
            increase = int(rng.lognormvariate(13, 1.5) * peak_factor)
            began, took = start + number * 0.002, rng.expovariate(500)
            cells[_INDEX["task_key"]] = f"{cells[_INDEX['task_prefix']]}-{number:08x}"
            cells[_INDEX["min_memory_mb"]] = f"{baseline / MIB:.6f}"
            cells[_INDEX["max_memory_mb"]] = f"{(baseline + increase) / MIB:.6f}"
            cells[_INDEX["start"]], cells[_INDEX["stop"]] = f"{began:.6f}", f"{began + took:.6f}"
            cells[_INDEX["duration_s"]] = f"{took:.6f}"
            cells[_INDEX["peak_bytes"]] = str(baseline + increase)
            cells[_INDEX["peak_increase_bytes"]] = str(increase)
            cells[_INDEX["state"]], cells[_INDEX["method"]] = "memory", "clear_refs"
            writer.writerow(cells)
    partial.replace(target)


def measure(command: list[str]) -> dict[str, Any]:
    """One fresh process: its wall time and its own peak RSS, as the kernel kept it (wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # files: a full pipe would block it
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({code}): {stderr.strip()[-2000:]}")
    return {"seconds": seconds, "peak_rss_bytes": usage.ru_maxrss * 1024, "code": code, "stdout": stdout}


def _memreplay(*args: str) -> list[str]:
    return [sys.executable, "-m", "memreplay", *args]


def _inflate(run: Path, rows: int, peak_factor: float) -> tuple[str, int]:
    """The run's first case with a tasks.csv gets ``rows`` generated rows; its id and the bytes."""
    record = json.loads((run / "run.json").read_text())
    case = next(c for c in record["cases"] if c.get("task_memory") and c["outcome"] == "ok")
    tasks = run / "cases" / case["id"] / case["task_memory"]["csv"]
    generate_task_rows(tasks, tasks, rows, peak_factor=peak_factor)
    return case["id"], tasks.stat().st_size


def _table(summary: dict[str, Any]) -> str:
    from memreplay.report.table import format_table

    report, compare = summary["report"], summary["compare"]
    return format_table(
        ("step", "median s", "runs (s)", "peak RSS", "output", "goal", "met"),
        [("report", f"{report['median_s']:.1f}", " ".join(f"{s:.1f}" for s in report["seconds"]),
          f"{report['peak_rss_bytes'] / MIB:,.0f} MiB", f"{report['html_bytes'] / 1e6:.2f} MB report.html",
          "≤ 10 s, ≤ 5 MB", "yes" if report["meets_goal"] else "no"),
         ("compare", f"{compare['median_s']:.1f}", " ".join(f"{s:.1f}" for s in compare["seconds"]),
          f"{compare['peak_rss_bytes'] / MIB:,.0f} MiB", f"{compare['html_bytes'] / 1e6:.2f} MB page",
          "≤ 30 s, ≤ 1 GiB", "yes" if compare["meets_goal"] else "no")],
        width=None) + f"\n\n{summary['rows']:,} task rows ({summary['csv_bytes'] / 1e6:,.0f} MB tasks.csv) per run"


def million_rows(results: Path, rows: int = ROWS, repeats: int = 3) -> dict[str, Any]:
    stamp = time.strftime("%Y%m%dT%H%M%S")
    out = results / "million-rows" / stamp
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="memreplay-million-") as work:
        work_dir = Path(work)
        print("a small real run to shape the rows on ...", file=sys.stderr)
        done = measure(_memreplay("run", "wordcount-naive", "--scale", "0.02", "--workers", "1", "--memory-limit",
                                  "2GiB", "--results", str(work_dir / "source"), "--corpora",
                                  str(results / "corpora")))
        source = next((work_dir / "source" / "runs").iterdir())
        base, head = work_dir / "runs" / f"{source.name}-base", work_dir / "runs" / f"{source.name}-head"
        shutil.copytree(source, base)
        shutil.copytree(source, head)
        print(f"{rows:,} generated task rows in each of two copies ...", file=sys.stderr)
        case, csv_bytes = _inflate(base, rows, 1.0)
        _inflate(head, rows, 1.1)
        reports, compares = [], []
        for repeat in range(repeats):  # interleaved: drift on a shared machine touches both alike
            print(f"report and compare, {repeat + 1} of {repeats} ...", file=sys.stderr)
            reports.append(measure(_memreplay("report", str(base))))
            compares.append(measure(_memreplay("compare", str(base), str(head))))
        html = (base / "report.html").stat().st_size
        page = max((head.glob("compare-to-*.html")), key=lambda p: p.stat().st_mtime).stat().st_size
        shutil.copy(base / "report.html", out / "report.html")  # to look at, as a user would
    report_s = statistics.median(r["seconds"] for r in reports)
    compare_s = statistics.median(r["seconds"] for r in compares)
    report_rss = max(r["peak_rss_bytes"] for r in reports)
    compare_rss = max(r["peak_rss_bytes"] for r in compares)
    summary = {
        "rows": rows, "csv_bytes": csv_bytes, "case": case, "repeats": repeats, "source_run_s": done["seconds"],
        "report": {"seconds": [r["seconds"] for r in reports], "median_s": report_s, "peak_rss_bytes": report_rss,
                   "html_bytes": html,
                   "meets_goal": report_s <= REPORT_GOAL["seconds"] and html <= REPORT_GOAL["bytes"]},
        "compare": {"seconds": [r["seconds"] for r in compares], "median_s": compare_s,
                    "peak_rss_bytes": compare_rss, "html_bytes": page, "verdict": compares[-1]["stdout"].strip(),
                    "meets_goal": compare_s <= COMPARE_GOAL["seconds"]
                    and compare_rss <= COMPARE_GOAL["peak_rss_bytes"]},
    }
    atomic_write_text(out / "million-rows.json", json.dumps(summary, indent=2) + "\n")
    text = _table(summary)
    atomic_write_text(out / "million-rows.txt", text + "\n")
    print(text)
    print(f"\nwritten: {out / 'million-rows.json'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m memreplay.studies.million_rows", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="results")
    parser.add_argument("--rows", type=int, default=ROWS, help=f"task rows per case (default {ROWS:,})")
    parser.add_argument("--repeats", type=int, default=3, help="report and compare runs each (default 3)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeats < 1:
        parser.error("--rows and --repeats must be at least 1")
    summary = million_rows(Path(args.results), args.rows, args.repeats)
    return 0 if summary["report"]["meets_goal"] and summary["compare"]["meets_goal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
