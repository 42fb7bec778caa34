"""Pure functions that build Dask collections from a corpus, with an explicit map of the
built-in ones (:mod:`memreplay.workloads.registry`).

Nothing here knows about clusters or probes: a workload says what to compute, how big each
task's input is, and how to check the answer.
"""

from memreplay.workloads.registry import registered_workloads, resolve_workload
from memreplay.workloads.workload import AnswerMismatch, DeadlinePassed, Workload, WorkloadError, per_file_workload

__all__ = [
    "AnswerMismatch",
    "DeadlinePassed",
    "Workload",
    "WorkloadError",
    "per_file_workload",
    "registered_workloads",
    "resolve_workload",
]
