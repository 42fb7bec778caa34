"""The scheduler of a case, in a process of its own (``dask scheduler``), as in production: its
RSS is its own, not the driver's (client, harness and plots together), and its configuration
(a scheduler preset, dask's settings for a case) reaches it through the environment, the way
dask reads ``DASK_*`` variables at start."""

from __future__ import annotations

import asyncio
import ctypes
import json
import signal
import sys
from pathlib import Path
from typing import IO, Any

from distributed.deploy.spec import ProcessInterface

from memreplay.errors import UserError
from memreplay.plan.distributed_config import child_environment

__all__ = ["STARTUP_S", "SchedulerFailed", "SchedulerProcess", "dashboard_flag", "dask_command", "die_with_parent",
           "last_error_line"]

STARTUP_S = 60  # a scheduler starts in a second or two; one that dies fails at once


class SchedulerFailed(UserError):
    """A scheduler (or worker) process died or never came up: a preset value it cannot use, a port..."""


def dask_command(name: str) -> list[str]:
    """``dask scheduler`` / ``dask worker`` of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("dask")), name]


def dashboard_flag() -> list[str]:
    """The scheduler's HTTP endpoints on any free loopback port (two runs never fight over 8787),
    where bokeh is installed to serve them."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return ["--no-dashboard"]
    return ["--dashboard-address", "127.0.0.1:0"]


def last_error_line(log: Path, returncode: int | None) -> str:
    """What a dead child said last: its last line mentioning an error, else its last line."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line] or lines
    line = errors[-1] if errors else f"exit code {returncode}"
    return line if len(line) <= 200 else line[:199] + "…"


# Looked up once, here: after fork, in the child, only the call itself runs.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """In the child, before it runs: a scheduler whose memreplay was killed (kill -9, the OOM
    killer) is stopped by the kernel with ``sig``, not left running (Linux; elsewhere close()
    stops it)."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, sig)


class SchedulerProcess(ProcessInterface):
    """A SpecCluster's scheduler as a ``dask scheduler`` process started with ``settings``
    (dask config keys → values) in its environment; its output goes to ``log``."""

    def __init__(self, settings: dict[str, Any], log: str, timeout_s: float = STARTUP_S) -> None:
        self.settings = settings
        self.log = Path(log)
        self.timeout_s = timeout_s
        self.process: asyncio.subprocess.Process | None = None
        self._log_file: IO[str] | None = None
        super().__init__()

    async def start(self) -> None:
        scheduler_file = self.log.with_suffix(".json")
        scheduler_file.unlink(missing_ok=True)
        self._log_file = open(self.log, "w")  # noqa: SIM115 (closed with the process)
        self.process = await asyncio.create_subprocess_exec(
            *dask_command("scheduler"), "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
            # no dashboard: the case needs none, and bokeh's import is half the scheduler's start
            str(scheduler_file), "--no-dashboard", stdout=self._log_file, stderr=asyncio.subprocess.STDOUT,
            # its own session: a Ctrl-C at the terminal reaches memreplay, which then closes it in order
            env=child_environment(self.settings), preexec_fn=die_with_parent, start_new_session=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while True:
            if self.process.returncode is not None:
                raise SchedulerFailed(f"the scheduler process exited with code {self.process.returncode} while "
                                      f"starting: {last_error_line(self.log, self.process.returncode)}")
            try:
                self.address = json.loads(scheduler_file.read_text())["address"]
                break
            except (OSError, ValueError, KeyError):  # not written yet, or half written
                pass
            if loop.time() > deadline:
                raise SchedulerFailed(f"the scheduler did not start within {self.timeout_s:g} s "
                                      f"(its log: {self.log})")
            await asyncio.sleep(0.05)
        await super().start()

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._log_file is not None:
            self._log_file.close()
        self.log.with_suffix(".json").unlink(missing_ok=True)  # its address, of no use once it is gone
        await super().close()
