"""Entry point of a profiling subprocess: one workload's task function on one input file, alone,
outside any cluster (neither Fil nor memory_profiler can follow Dask's worker processes).

``fil-profile --no-browser python -m harness.studies.profile_target fil WORKLOAD FILE OUT_DIR``
    Fil's peak tracked allocations; only the call is profiled (``filprofiler.api.profile``),
    not the imports before it.
``python -m harness.studies.profile_target lines WORKLOAD FILE OUT_JSON``
    memory_profiler's RSS line by line through the task function's own lines.
"""

from __future__ import annotations

import inspect
import json
import linecache
import sys
from pathlib import Path
from typing import Any

from workloads import resolve_workload

SOURCE_MARKER = "memreplay-task-source: "
MIB = 2**20


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


def main(argv: list[str]) -> int:
    mode, reference, path, out = argv
    task = resolve_workload(reference).task_function
    if task is None:
        print(f"workload {reference!r} has no task function to profile", file=sys.stderr)
        return 2
    # The parent attributes memory to lines in this directory: say where the task's code is
    # as imported here (a checkout on PYTHONPATH can shadow the installed package).
    print(f"{SOURCE_MARKER}{Path(inspect.getfile(task)).resolve().parent}", flush=True)
    (_fil if mode == "fil" else _lines)(task, Path(path), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
