"""memreplay as a user runs it: the installed console script in a process of its own (for
signals, working directories and exit paths), what a command printed, and the checks every
refusal must pass. In-process calls are the ``cli`` fixture (tests/conftest.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import dask
import pytest
from packaging.version import Version

from memreplay.probes.clear_refs import clear_refs_available

__all__ = ["FUSES_BAG_PARTITIONS", "INTERRUPTIBLE", "MEMREPLAY", "TEST_SCALE", "Result", "assert_one_line_error",
           "memreplay", "needs_clear_refs", "write_matrix"]

TEST_SCALE = 0.02
# dask 2024.12 and later fuse a bag's from_sequence partitions into its first map (leaving an
# alias under the map's name) and a task shuffle's first join into the steps before it; older
# dask keeps each partition a data task of its own and fuses that join into its shuffle-group.
FUSES_BAG_PARTITIONS = Version(dask.__version__) >= Version("2024.12.0")
MEMREPLAY = str(Path(sys.executable).with_name("memreplay"))

# The exact per-task probe needs /proc/self/clear_refs (Linux, not every container).
needs_clear_refs = pytest.mark.skipif(not clear_refs_available(), reason="/proc/self/clear_refs is unavailable here")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    @property
    def record_path(self) -> str:
        """The run record a command named (``results: PATH``)."""
        return next(line.removeprefix("results: ") for line in reversed(self.stdout.splitlines())
                    if line.startswith("results: "))

    @property
    def report_path(self) -> str:
        """The report a command named (``report: PATH``)."""
        return next(line.removeprefix("report: ") for line in reversed(self.stdout.splitlines())
                    if line.startswith("report: "))


def _answer_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# Popen options for a child the test will Ctrl-C: a test run started in the background by a
# non-interactive shell inherits SIGINT ignored, and Python then installs no KeyboardInterrupt.
# Its own process group, so that os.killpg can interrupt it as a terminal would: every process.
INTERRUPTIBLE = {"preexec_fn": _answer_ctrl_c, "process_group": 0}


def write_matrix(directory: Path, body: str, name: str = "matrix.toml") -> Path:
    """A matrix file with ``body`` (TOML) in ``directory``."""
    path = directory / name
    path.write_text(body)
    return path


def memreplay(*args: str, cwd: Path | None = None, timeout: float = 300) -> Result:
    """Run the installed ``memreplay`` console script in a process of its own."""
    done = subprocess.run([MEMREPLAY, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
