"""A preload for the worker processes of memreplay's own local clusters.

A Ctrl-C at the terminal reaches every process of memreplay's process group, its workers
included. memreplay itself stops the case and closes its cluster in order (the scheduler runs
in a session of its own for the same reason), so each worker process leaves the interrupt to
memreplay rather than dying with a traceback of its own."""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["dask_setup"]


def dask_setup(worker: Any) -> None:
    if threading.current_thread() is threading.main_thread():  # only the main thread may set handlers
        signal.signal(signal.SIGINT, signal.SIG_IGN)
