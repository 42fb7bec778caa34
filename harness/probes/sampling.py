"""Fallback peak RSS where clear_refs is unavailable: a thread polls RSS every 2 ms.

It misses peaks shorter than the interval, so rows it produces say ``method=sampling``.
"""

from __future__ import annotations

import threading

import psutil

__all__ = ["SamplingMeter"]

INTERVAL_S = 0.002


class SamplingMeter:
    method = "sampling"

    def __init__(self, interval: float = INTERVAL_S) -> None:
        self._process = psutil.Process()
        self._interval = interval
        self._peak = self._rss()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="memreplay-rss-sampler", daemon=True)
        self._thread.start()

    def _rss(self) -> int:
        return self._process.memory_info().rss

    def _poll(self) -> None:
        while not self._stop.wait(self._interval):
            rss = self._rss()
            with self._lock:
                self._peak = max(self._peak, rss)

    def read(self) -> tuple[int, int]:
        rss = self._rss()
        with self._lock:
            self._peak = max(self._peak, rss)
            return rss, self._peak

    def reset(self) -> None:
        with self._lock:
            self._peak = self._rss()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
