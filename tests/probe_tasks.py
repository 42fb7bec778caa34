"""Task functions the probe tests ship to workers (importable there, unlike test modules' locals)."""

from __future__ import annotations

import os


def exit_worker(_: int = 0) -> None:
    os._exit(1)  # the worker process dies mid-task, as under an OOM kill


def fail(_: int = 0) -> None:
    raise ValueError("this task fails on purpose")
