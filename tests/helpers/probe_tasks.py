"""Task functions the probe tests ship to workers (importable there, unlike test modules' locals)."""

from __future__ import annotations

import os
import time


def exit_worker(_: int = 0) -> None:
    """Hold 50 MiB for a moment, then die mid-task, as a worker killed for memory does."""
    held = bytearray(50 * 2**20)
    time.sleep(0.3)
    os._exit(len(held) and 1)


def fail(_: int = 0) -> None:
    raise ValueError("this task fails on purpose")
