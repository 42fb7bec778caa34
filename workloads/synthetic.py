"""Tasks whose memory and duration are given, not computed: what the probe-accuracy study's
ground truth and a replayed trace run.

A region of a known size is mapped fresh, every page touched (so it is resident, not just
reserved), held for a known time and unmapped: the process's RSS rises by exactly that many
bytes, whatever the allocator would have reused.
"""

from __future__ import annotations

import mmap
import time
from typing import Any

import numpy as np

__all__ = ["MIB", "PAGE", "allocate_and_hold", "grow_to_kill_line", "replay_task"]

MIB = 2**20
PAGE = mmap.PAGESIZE


def allocate_and_hold(mib: float, seconds: float, since: float | None = None) -> int:
    """Allocate and touch ``mib`` MiB, hold it ``seconds``, release it; return the bytes.
    ``since`` (a ``time.perf_counter()``): count the seconds from then, touching included."""
    size = int(mib * MIB)
    region = mmap.mmap(-1, size) if size else None
    try:
        for offset in range(0, size, PAGE):
            region[offset] = 1
        deadline = (time.perf_counter() if since is None else since) + seconds
        # sleep, never spin: a spinning task would hold the GIL its worker's event loop needs
        while (remaining := deadline - time.perf_counter()) > 0:
            time.sleep(remaining)
    finally:
        if region is not None:
            region.close()
    return size


def grow_to_kill_line(memory_limit: int, hold_s: float, step_bytes: int = 16 * MIB) -> None:
    """Grow this process's RSS to a worker's kill line, ``memory_limit`` × the ``terminate``
    fraction its nanny reads here, then hold it ``hold_s`` seconds, growing again if the RSS
    falls back. For a replayed task whose worker was killed for memory while it ran: where the
    replaying worker's limit is the recorded one, its nanny kills it however loaded the machine
    is, since the memory stays over the line until it does; where the limit is larger, the
    worker lives, having held what the original held when it died."""
    import dask.config
    import psutil

    fraction = dask.config.get("distributed.worker.memory.terminate", default=0.95) or 1.0  # False: no kill line
    line = memory_limit * float(fraction) + step_bytes  # a step past it: the nanny kills above the line, not at it
    process = psutil.Process()
    regions: list[mmap.mmap] = []
    held_since: float | None = None
    try:
        while held_since is None or time.perf_counter() - held_since < hold_s:
            if process.memory_info().rss < line:
                region = mmap.mmap(-1, step_bytes)
                for offset in range(0, step_bytes, PAGE):
                    region[offset] = 1
                regions.append(region)
            else:
                held_since = held_since or time.perf_counter()
                time.sleep(0.02)  # sleep, never spin: the worker's event loop needs the GIL
    finally:
        for region in regions:
            region.close()


def replay_task(peak_increase_bytes: int, duration_s: float, output_bytes: int, *inputs: Any,
                killed_at_limit: int = 0) -> np.ndarray:
    """One task of a replayed trace. Its output, an array of its recorded output size, comes
    first: it is held at the end, as the original's was. Only as much of it is made resident as
    the task's peak increase allows: an output larger than that shared memory with the task's
    inputs in the original (a getitem, a view), and costs no new memory here either (the rest is
    zero pages, never touched). The rest of the peak increase is allocated on top and held until
    the recorded duration has passed. ``inputs``, the dependencies' outputs, are only held.
    ``killed_at_limit``: the original's worker, of this memory limit, was killed for memory while
    the task ran; after its recorded peak, it grows to that worker's kill line
    (:func:`grow_to_kill_line`)."""
    started = time.perf_counter()  # the recorded duration includes making its memory: so does this one
    output = np.zeros(output_bytes, dtype=np.uint8)  # calloc: not resident until written
    resident = min(output_bytes, peak_increase_bytes)
    output[:resident:PAGE] = 1
    if killed_at_limit:
        allocate_and_hold((peak_increase_bytes - resident) / MIB, 0.0)
        grow_to_kill_line(killed_at_limit, hold_s=max(duration_s, 10.0))
    else:
        allocate_and_hold((peak_increase_bytes - resident) / MIB, duration_s, since=started)
    return output
