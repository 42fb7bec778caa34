"""``memreplay record -- COMMAND``: run a pipeline of the user's own with every Dask client it
makes recorded (a client preload, :mod:`memreplay.trace.recording`), and say what the trace holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from memreplay.errors import UserError
from memreplay.plan.sizes import compact_bytes
from memreplay.trace.recording import TRACE_ENV
from memreplay.workloads.trace import TraceError, index_trace

__all__ = ["record_command"]

PRELOAD = "memreplay.trace.recording"


def record_command(command: list[str], output: Path) -> tuple[int, str, bool]:
    """Run ``command``; return the exit code, what to print, and whether a trace was written.
    The pipeline's own exit code is passed on (a pipeline that ran out of memory is still
    recorded); no trace at all is exit 2."""
    command = command[1:] if command[:1] == ["--"] else command
    if not command:
        raise UserError("record: give the pipeline to run after --, e.g. memreplay record -- python my_pipeline.py")
    output = output.resolve()
    if not output.parent.is_dir():
        raise UserError(f"--output {output}: no such directory {output.parent}")
    if not os.access(output.parent, os.W_OK):
        raise UserError(f"--output {output}: directory {output.parent} is not writable")
    environment = {**os.environ, TRACE_ENV: str(output),
                   "DASK_DISTRIBUTED__CLIENT__PRELOAD": json.dumps([PRELOAD])}
    started = time.time()
    try:
        child = subprocess.Popen(command, env=environment)
    except OSError as error:
        raise UserError(f"record: cannot run {command[0]!r}: {error.strerror or error}") from None
    try:
        code = child.wait()
    except KeyboardInterrupt:  # the pipeline got the same Ctrl-C: let it close its client, which writes the trace
        code = child.wait()
    if not output.exists() or output.stat().st_mtime < started:
        return 2, (f"memreplay record: no trace written to {output}: the pipeline made no Dask client, or exited "
                   f"without closing it (exit code {code})"), False
    try:
        index = index_trace(output)
    except TraceError as error:
        return 2, f"memreplay record: {error}", False
    shape = index.header.cluster
    on = (f"on {shape.label}-{compact_bytes(shape.memory_limit)} (workers x threads-memory limit)" if shape
          else "on workers that were not alike")
    said = (f"trace: {output}: {index.tasks} tasks recorded {on}, outcome {index.end.outcome}, "
            f"{index.end.span_s:.2f} s of tasks\nreplay it: memreplay run replay:{output}")
    if code < 0:  # stopped by a signal (Ctrl-C: SIGINT): said as a shell says it
        said += f"\n(the pipeline was stopped by {signal.Signals(-code).name})"
        return 128 - code, said, True
    if code:
        said += f"\n(the pipeline exited with code {code})"
    return code, said, True
