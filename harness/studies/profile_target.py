"""Entry point of a profiling subprocess: one workload's task function on one input file, alone,
outside any cluster (neither Fil nor memory_profiler can follow Dask's worker processes).

``fil-profile --no-browser python -m memreplay.studies.profile_target fil WORKLOAD FILE OUT_DIR``
    Fil's peak tracked allocations; only the call is profiled (``filprofiler.api.profile``),
    not the imports before it.
``python -m memreplay.studies.profile_target lines WORKLOAD FILE OUT_JSON``
    memory_profiler's RSS line by line through the task function's own lines.
``python -m memreplay.studies.profile_target peak WORKLOAD FILE OUT_JSON``
    the call's peak increase, measured with the exact meter the workers use (size ladders).

:func:`run_target` is the parent's side: it runs one of these and names why one failed.
"""

from __future__ import annotations

import gc
import inspect
import json
import linecache
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from memreplay.workloads import resolve_workload

__all__ = ["FIL_OOM_EXIT", "SOURCE_MARKER", "run_target"]

SOURCE_MARKER = "memreplay-task-source: "
MIB = 2**20
FIL_OOM_EXIT = 53


START_AT = "MEMREPLAY_START_AT"  # a peak measurement waits for this wall-clock time: neighbours start together


def run_target(command: list[str], cwd: Path, timeout: float,
               environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str] | str:
    """Run a subprocess of this module; a string is why it failed (its last error line)."""
    # here, not at the top: the children import this module, and need not import distributed
    from memreplay.plan.distributed_config import child_environment

    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                              env={**child_environment(), **(environment or {})})
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:g} s"
    if done.returncode != 0:
        own_lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("=fil-profile=")]
        return "Fil detected out of memory" if done.returncode == FIL_OOM_EXIT else (
            own_lines[-1].strip() if own_lines else
            f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit code {done.returncode}")
    return done


def _fil(task: Any, path: Path, out_dir: str) -> None:
    from filprofiler.api import profile

    profile(lambda: task(path), out_dir)


def _lines(task: Any, path: Path, out_json: str) -> None:
    from memory_profiler import LineProfiler

    class TaskLinesOnly(LineProfiler):  # type: ignore[misc]
        # Trace only the task function's own frames: no line events inside the helpers,
        # generator expressions and libraries it calls, which would make a large input crawl.
        def trace_memory_usage(self, frame: Any, event: str, arg: Any) -> Any:
            if event == "call" and frame.f_code is not task.__code__:
                return None
            return super().trace_memory_usage(frame, event, arg)

    profiler = TaskLinesOnly(backend="psutil")
    profiler.add_function(task)
    for code in [code for code in profiler.code_map if code is not task.__code__]:
        del profiler.code_map[code]
    profiler(task)(path)
    rows = []
    for filename, lines in profiler.code_map.items():
        for line, measured in lines:
            if measured:
                increment, usage, occurrences = measured
                if line == task.__code__.co_firstlineno:
                    increment = 0  # memory_profiler counts the whole RSS at the call here: the start, not growth
                rows.append({"file": filename, "line": line, "code": linecache.getline(filename, line).strip(),
                             "rss_bytes": round(usage * MIB), "increment_bytes": round(increment * MIB),
                             "occurrences": occurrences})
    Path(out_json).write_text(json.dumps(rows))


def _peak(task: Any, path: Path, out_json: str) -> None:
    from memreplay.probes.meter import open_meter

    meter = open_meter()
    gc.collect()  # what the imports left for the collector is not the task's
    time.sleep(max(0.0, float(os.environ.get(START_AT, 0)) - time.time()))  # its neighbours have imported too
    before = meter.rss()
    meter.reset()
    started = time.perf_counter()
    task(path)
    duration = time.perf_counter() - started
    _, peak = meter.read()
    meter.close()
    Path(out_json).write_text(json.dumps({"peak_increase_bytes": max(0, peak - before), "duration_s": duration,
                                          "method": meter.method}))


def main(argv: list[str]) -> int:
    mode, reference, path, out = argv
    task = resolve_workload(reference).task_function
    if task is None:
        print(f"workload {reference!r} has no task function to profile", file=sys.stderr)
        return 2
    # The parent attributes memory to lines in this directory: say where the task's code is
    # as imported here (a checkout on PYTHONPATH can shadow the installed package).
    print(f"{SOURCE_MARKER}{Path(inspect.getfile(task)).resolve().parent}", flush=True)
    {"fil": _fil, "lines": _lines, "peak": _peak}[mode](task, Path(path), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
