"""memreplay: a reproducible benchmark and workload replay for the memory use of Dask pipelines.

The public entry points are the ``memreplay`` command, :func:`memreplay.record` (``with
memreplay.record("trace.json"):`` records every task the current Dask client runs, as a trace
that ``replay:trace.json`` rebuilds) and the scheduler preload ``dask scheduler --preload
memreplay.memusage`` (per-task peak memory, dask-memusage's CSV).

The engine is in rooms that follow the data: plan → execute → probes → records → analysis →
report, with studies beside the pipeline; ``compat`` holds every distributed internal memreplay
touches, and ``cli`` parses and prints. ``memreplay.workloads`` builds graphs and
``memreplay.corpora`` makes their data; ``memreplay.configs`` holds the matrices and presets
the commands default to. In the repository these are the folders harness/, workloads/,
corpora/ and configs/; installed, the one import name is ``memreplay``.
"""

from typing import Any

from memreplay.version import __version__

__all__ = ["__version__", "record"]


def __getattr__(name: str) -> Any:
    # Lazy: the preload (``memreplay.memusage``) and the sampler child import this package and
    # should not pay for the client-side recording machinery.
    if name == "record":
        from memreplay.trace.recording import record

        return record
    raise AttributeError(f"module 'memreplay' has no attribute {name!r}")
