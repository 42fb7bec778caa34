"""Exact peak RSS on Linux: writing 5 to /proc/self/clear_refs resets VmHWM to the current RSS,
so VmHWM read later is the true peak since the reset, however short the interval.

Reading /proc/self/status costs 9 µs, most of a task boundary. ``getrusage``'s ``ru_maxrss``
reads the same peak (``get_mm_hiwater_rss``) in under 1 µs, but it is the larger of that peak and
the peak the process had before it last exec'd, which no reset lowers. It is asked of the calling
thread (``RUSAGE_THREAD``), whose ``ru_maxrss`` is the process's all the same (the threads share
one memory map): for the whole process the kernel also sums every thread's CPU time, which in a
busy worker, with threads running on other cores, made it most of the probe's cost (a profile of
a worker at 20,000 tiny tasks put 70 % of the probe's time there). So it is used where it
must be the peak since the reset: where it, or the current RSS, is above a bound of that older
peak (``ru_maxrss`` right after a reset); elsewhere status is read."""

from __future__ import annotations

import os
import resource

__all__ = ["ClearRefsMeter", "clear_refs_available"]

_STATUS = "/proc/self/status"
_STATM = "/proc/self/statm"  # sizes in pages; a fifth of the cost of status to read, but no peak
_CLEAR_REFS = "/proc/self/clear_refs"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _kib_field(status: bytes, name: bytes) -> int:
    """A ``Name:   1234 kB`` field of /proc/self/status, in bytes, found without splitting the file."""
    start = status.index(name) + len(name)
    return int(status[start:status.index(b"k", start)]) * 1024  # int() skips the padding


def _parse_status(status: bytes) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes from the text of /proc/self/status."""
    return _kib_field(status, b"VmRSS:"), _kib_field(status, b"VmHWM:")


def clear_refs_available() -> bool:
    """True if this process may reset its own peak (not on other OSes or some containers)."""
    try:
        with open(_CLEAR_REFS, "w") as handle:
            handle.write("5")
        with open(_STATUS, "rb") as handle:
            _parse_status(handle.read())
    except OSError:
        return False
    return True


def _lifetime_peak() -> int:
    """``ru_maxrss`` in bytes (KiB on Linux): the process's, read through the calling thread."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_maxrss * 1024


class ClearRefsMeter:
    method = "clear_refs"

    def __init__(self) -> None:
        # All kept open: a task boundary costs a pread and a write, no open().
        self._clear = os.open(_CLEAR_REFS, os.O_WRONLY)
        self._status = os.open(_STATUS, os.O_RDONLY)
        self._statm = os.open(_STATM, os.O_RDONLY)
        # At least the peak before the last exec (ru_maxrss is never below it); lowered to
        # ru_maxrss right after the first reset, the tightest bound this process can know.
        self._older_peak_bound = _lifetime_peak()
        self._bound_from_reset = False

    def read(self) -> tuple[int, int]:
        rss, peak = self.rss(), _lifetime_peak()
        if peak > self._older_peak_bound or rss >= self._older_peak_bound:
            return rss, max(rss, peak)  # above the older peak: ru_maxrss is the peak since the reset
        rss, peak = _parse_status(os.pread(self._status, 8192, 0))
        return rss, max(rss, peak)

    def rss(self) -> int:
        return int(os.pread(self._statm, 256, 0).split(b" ", 2)[1]) * _PAGE

    def reset(self) -> int:
        os.write(self._clear, b"5")
        peak = _lifetime_peak()  # right after the reset: the RSS now, unless the older peak is above it
        if not self._bound_from_reset:
            self._older_peak_bound = min(self._older_peak_bound, peak)
            self._bound_from_reset = True
        # getrusage, not statm: in a busy worker a boundary's procfs read cost about 5 µs, twice this
        return peak if peak > self._older_peak_bound else self.rss()

    def close(self) -> None:
        for handle in (self._clear, self._status, self._statm):
            os.close(handle)
