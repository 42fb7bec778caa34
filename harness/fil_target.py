"""Entry point run under Fil: one workload's task function on one input file.

``fil-profile --no-browser python -m harness.fil_target WORKLOAD FILE OUT_DIR``
Fil cannot follow Dask's worker processes, so the task runs here, alone, outside any cluster.
Only the call is profiled (``filprofiler.api.profile``), not the imports before it.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from workloads import resolve_workload

SOURCE_MARKER = "memreplay-task-source: "


def main(argv: list[str]) -> int:
    from filprofiler.api import profile

    reference, path, out_dir = argv
    workload = resolve_workload(reference)
    task = workload.task_function
    if task is None:
        print(f"workload {reference!r} has no task function to profile", file=sys.stderr)
        return 2
    # The parent attributes memory to lines in this directory: say where the task's code is
    # as imported here (a checkout on PYTHONPATH can shadow the installed package).
    print(f"{SOURCE_MARKER}{Path(inspect.getfile(task)).resolve().parent}", flush=True)
    profile(lambda: task(Path(path)), out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
