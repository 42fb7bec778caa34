"""memreplay's Python API for a pipeline's own code: ``with memreplay.record("trace.json"):``
records every task the current Dask client runs, as a trace ``replay:trace.json`` rebuilds."""

from harness.trace.recording import record

__all__ = ["record"]
