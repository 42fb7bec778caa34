"""Where a result was measured: versions, hardware and the code's git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import psutil

from memreplay.records.schema import Environment, MemoryEnvironment
from memreplay.version import __version__

__all__ = ["collect_environment", "collect_memory_environment"]


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


MALLOC_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX")


def _transparent_hugepages() -> str | None:
    """The bracketed mode of ``always [madvise] never``."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return None
    chosen = [word[1:-1] for word in text.split() if word.startswith("[") and word.endswith("]")]
    return chosen[0] if chosen else text.strip()


def _cgroup_memory_limit() -> int | None:
    """The tightest memory limit of this process's cgroup and its ancestors: cgroup v2's
    memory.max, or cgroup v1's memory.limit_in_bytes; None: no limit."""
    root = Path("/sys/fs/cgroup")
    files: list[Path] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # v2: one hierarchy
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):  # v1: the memory controller's own hierarchy
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        own = base / path.strip("/")
        files += [level / name for level in [own, *own.parents] if level == base or base in level.parents]
    limits = []
    for file in files:
        try:
            text = file.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**62:  # "max" (v2) or a huge number (v1): no limit
            limits.append(int(text))
    return min(limits, default=None)


def collect_memory_environment() -> MemoryEnvironment:
    """Read from dask's configuration, where distributed (imported by whatever measured) put its
    defaults."""
    import dask

    return MemoryEnvironment(
        transparent_hugepages=_transparent_hugepages(),
        malloc={name: os.environ.get(name) for name in MALLOC_VARIABLES},
        nanny_environ={str(k): str(v) for k, v in
                       (dask.config.get("distributed.nanny.pre-spawn-environ") or {}).items()},
        cgroup_memory_limit_bytes=_cgroup_memory_limit(),
        swap_bytes=psutil.swap_memory().total,
        worker_memory=dict(dask.config.get("distributed.worker.memory", {})),
    )


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
        memory=collect_memory_environment(),
    )
