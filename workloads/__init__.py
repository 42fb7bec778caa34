"""Pure functions that build Dask collections from a corpus, with an explicit map of the
built-in ones (:mod:`workloads.registry`).

Nothing here knows about clusters or probes: a workload says what to compute, how big each
task's input is, and how to check the answer.
"""

from workloads.registry import registered_workloads, resolve_workload
from workloads.workload import AnswerMismatch, DeadlinePassed, Workload, WorkloadError, per_file_workload

__all__ = [
    "AnswerMismatch",
    "DeadlinePassed",
    "Workload",
    "WorkloadError",
    "per_file_workload",
    "registered_workloads",
    "resolve_workload",
]
