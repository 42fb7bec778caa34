"""Fallback peak RSS where clear_refs is unavailable: the shared RSS sampler polls this
process every 2 ms.

It misses peaks shorter than the interval, so rows it produces say ``method=sampling``.
"""

from __future__ import annotations

import os
import threading

import psutil

from memreplay.probes.rss_sampler import RssSampler

__all__ = ["SamplingMeter"]

INTERVAL_S = 0.002


class SamplingMeter:
    method = "sampling"

    def __init__(self, interval: float = INTERVAL_S) -> None:
        self._process = psutil.Process()
        self._lock = threading.Lock()
        self._peak = self.rss()
        self._sampler = RssSampler({"self": os.getpid()}, interval, keep=False, on_sample=self._observe,
                                   name="memreplay-peak-sampler")

    def rss(self) -> int:
        return self._process.memory_info().rss

    def _observe(self, _: str, rss: int) -> None:
        with self._lock:
            self._peak = max(self._peak, rss)

    def read(self) -> tuple[int, int]:
        rss = self.rss()
        with self._lock:
            self._peak = max(self._peak, rss)
            return rss, self._peak

    def reset(self) -> int:
        with self._lock:
            self._peak = self.rss()
            return self._peak

    def close(self) -> None:
        self._sampler.stop()
