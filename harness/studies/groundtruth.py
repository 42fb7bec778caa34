"""Tasks whose memory is known in advance, for checking memory probes against the truth.

A ground-truth task maps a fresh anonymous region of a known size, touches every page (so
it is resident, not just reserved), holds it for a known time and unmaps it: the process's
RSS rises by exactly that many bytes, whatever the allocator would have reused.
"""

from __future__ import annotations

import math
import mmap
import random
import time
from dataclasses import dataclass

from harness.records.task_rows import MIB

__all__ = ["GroundTruthTask", "allocate_and_hold", "ground_truth_tasks"]

PAGE = mmap.PAGESIZE


def allocate_and_hold(mib: float, seconds: float) -> int:
    """Allocate and touch ``mib`` MiB, hold it ``seconds``, release it; return the bytes."""
    size = int(mib * MIB)
    region = mmap.mmap(-1, size) if size else None
    try:
        for offset in range(0, size, PAGE):
            region[offset] = 1
        deadline = time.perf_counter() + seconds
        while (remaining := deadline - time.perf_counter()) > 0:
            if remaining > 0.002:  # sleep in slices; spin the last 2 ms for 1 ms accuracy
                time.sleep(min(remaining - 0.001, 0.01))
    finally:
        if region is not None:
            region.close()
    return size


@dataclass(frozen=True)
class GroundTruthTask:
    key: str
    mib: float
    seconds: float


def ground_truth_tasks(
    count: int, seed: int = 0, max_mib: float = 500, max_seconds: float = 1.0
) -> list[GroundTruthTask]:
    """``count`` tasks, sizes log-uniform in 1..max_mib MiB and durations log-uniform in
    1 ms..max_seconds, the extremes always included."""
    rng = random.Random(seed)
    tasks = [GroundTruthTask("truth-0", 1, 0.001), GroundTruthTask("truth-1", max_mib, max_seconds),
             GroundTruthTask("truth-2", max_mib, 0.001), GroundTruthTask("truth-3", 1, max_seconds)]
    for i in range(len(tasks), count):
        mib = round(10 ** rng.uniform(0, math.log10(max_mib)), 1)
        seconds = round(10 ** rng.uniform(-3, math.log10(max_seconds)), 4)
        tasks.append(GroundTruthTask(f"truth-{i}", mib, seconds))
    return tasks[:count]

