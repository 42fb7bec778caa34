"""How close each probe's rows came to a ground truth: per probe and thread count, rows
present, rows within the goal, and the median error by task duration."""

from __future__ import annotations

import statistics

import msgspec

from memreplay.records.schema import AccuracyRun, Overhead
from memreplay.records.task_rows import MIB

__all__ = ["DURATION_BUCKETS", "AccuracySummary", "BucketSummary", "duration_bucket", "paired_ratios",
           "summarise_accuracy", "tolerance_bytes"]

DURATION_BUCKETS = ((0.002, "<=2 ms"), (0.02, "<=20 ms"), (0.2, "<=200 ms"), (float("inf"), "> 200 ms"))


class BucketSummary(msgspec.Struct, kw_only=True):
    tasks: int
    rows: int
    median_relative_error: float | None
    max_abs_error_bytes: int | None


class AccuracySummary(msgspec.Struct, kw_only=True):
    probe: str
    threads: int
    tasks: int
    rows_present: int
    within_tolerance: int
    at_least_truth: int
    overlapping_rows: int
    worst_shortfall_bytes: int | None
    by_bucket: dict[str, BucketSummary]


def tolerance_bytes(truth: int) -> float:
    """The accuracy goal: within max(1 MiB, 1 %) of the truth."""
    return max(MIB, 0.01 * truth)


def duration_bucket(seconds: float) -> str:
    return next(label for limit, label in DURATION_BUCKETS if seconds <= limit)


def summarise_accuracy(run: AccuracyRun) -> AccuracySummary:
    rows = run.rows
    present = [r for r in rows if r.measured_bytes is not None and r.error_bytes is not None]
    by_bucket = {}
    for _, label in DURATION_BUCKETS:
        members = [r for r in present if r.bucket == label]
        errors = [abs(r.error_bytes or 0) / r.truth_bytes for r in members]
        by_bucket[label] = BucketSummary(
            tasks=sum(r.bucket == label for r in rows),
            rows=len(members),
            median_relative_error=statistics.median(errors) if errors else None,
            max_abs_error_bytes=max((abs(r.error_bytes or 0) for r in members), default=None),
        )
    return AccuracySummary(
        probe=run.probe, threads=run.threads, tasks=len(rows), rows_present=len(present),
        within_tolerance=sum(r.within_tolerance for r in rows),
        at_least_truth=sum(r.at_least_truth for r in rows),
        overlapping_rows=sum((r.concurrent_tasks or 0) > 1 for r in rows),
        worst_shortfall_bytes=max((r.truth_bytes - (r.measured_bytes or 0) for r in present), default=None),
        by_bucket=by_bucket,
    )


def paired_ratios(overhead: Overhead) -> dict[str, list[float]]:
    """Per arm, each run's time over the unprobed time beside it on the same cluster (as the
    record keeps them; before, each repeat's over the unprobed run of the same repeat, every arm
    on a fresh cluster): the spread behind the median."""
    if overhead.paired_ratios is not None:
        return overhead.paired_ratios
    baseline = overhead.seconds["none"]
    return {probe: [t / n for t, n in zip(times, baseline)] for probe, times in overhead.seconds.items()}
