"""Tasks whose memory is known in advance, for checking memory probes against the truth: each
is :func:`memreplay.workloads.synthetic.allocate_and_hold` of a known size for a known time."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from memreplay.workloads.synthetic import MIB, allocate_and_hold

__all__ = ["MIB", "GroundTruthTask", "allocate_and_hold", "ground_truth_tasks"]


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

