"""Where a result was measured: versions, hardware and the code's git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import psutil

from memreplay.records.schema import Environment
from memreplay.version import __version__

__all__ = ["collect_environment"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str | None:
    """The commit of the checkout memreplay runs from (current directory first)."""
    for where in (Path.cwd(), Path(__file__).resolve().parent):
        try:
            out = subprocess.run(
                ["git", "-C", str(where), "describe", "--always", "--dirty", "--abbrev=40"],
                capture_output=True, text=True, timeout=10,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    return None


def collect_environment() -> Environment:
    return Environment(
        python=platform.python_version(),
        python_implementation=platform.python_implementation(),
        executable=sys.executable,
        dask=version("dask"),
        distributed=version("distributed"),
        numpy=version("numpy"),
        cpu_model=_cpu_model(),
        cpu_count=os.cpu_count(),
        ram_bytes=psutil.virtual_memory().total,
        os=platform.platform(),
        hostname=platform.node(),
        git_commit=_git_commit(),
        memreplay=__version__,
    )
