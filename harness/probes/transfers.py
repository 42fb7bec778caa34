"""What moving each task's output between workers cost: read from every worker's log of the
transfers it received, shared among the keys of each transfer by their bytes."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from memreplay.compat import worker_transfers

__all__ = ["transfer_seconds"]


def _received(dask_worker: Any, since: float) -> list[tuple[float, dict[str, int], int]]:
    return worker_transfers(dask_worker, since)


def transfer_seconds(client: Any, since: float) -> dict[str, float]:
    """Per key (as a string), the mean time one transfer of its output took, over the transfers
    that started at or after ``since`` (the scheduler's clock)."""
    total: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for transfers in client.run(_received, since=since).values():
        for duration, keys, size in transfers:
            for key, nbytes in keys.items():
                total[key] += duration * (nbytes / size if size else 1 / len(keys))
                count[key] += 1
    return {key: total[key] / count[key] for key in total}
