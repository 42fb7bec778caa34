"""Pure functions that build Dask collections from a corpus, with a registry of their metadata.

Nothing here knows about clusters or probes: a workload says what to compute, how big each
task's input is, and how to check the answer.
"""

from workloads.registry import (
    AnswerMismatch,
    Workload,
    WorkloadError,
    registered_workloads,
    resolve_workload,
)

__all__ = [
    "AnswerMismatch",
    "Workload",
    "WorkloadError",
    "registered_workloads",
    "resolve_workload",
]
