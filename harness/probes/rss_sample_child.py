"""A process that samples another process's RSS with the shared RSS sampler and prints each
sample as ``<unix time> <rss bytes>``, until that process ends or this one's parent does.

Started by the timeline's worker plugin beside each worker, on the worker's own machine: a
thread inside the worker would wait for the GIL while a task holds it in one long C call (a
``str.split`` of 25 MB), and miss exactly the rise it is there to see.

    python -m memreplay.probes.rss_sample_child PID INTERVAL_S
"""

from __future__ import annotations

import ctypes
import signal
import sys
import time

import psutil

from memreplay.probes.rss_sampler import RssSampler

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the watched process ending stops us anyway
        pass


def main(argv: list[str]) -> int:
    pid, interval_s = int(argv[0]), float(argv[1])
    _die_with_parent()
    try:
        watched = psutil.Process(pid)
    except psutil.Error:
        return 0

    def report(_: str, rss: int) -> None:
        print(f"{time.time():.6f} {rss}", flush=True)

    sampler = RssSampler({"worker": pid}, interval_s, keep=False, on_sample=report, name="memreplay-rss-child")
    while watched.is_running():
        time.sleep(interval_s)
    sampler.stop()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (BrokenPipeError, KeyboardInterrupt):  # the worker stopped reading, or is shutting down
        sys.exit(0)
