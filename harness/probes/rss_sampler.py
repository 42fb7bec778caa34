"""The one RSS sampler: a thread that reads the resident memory of named processes at a fixed
interval (what memory_profiler's ``memory_usage(proc=pid)`` does, for several processes in one
thread). The timeline, the sampling peak meter and the scheduler study all use it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import psutil

from memreplay.records.timeline_samples import Sample

__all__ = ["RssSampler", "Sample"]


class RssSampler:
    """Samples each process until :meth:`stop`; a process that ends (a worker killed for
    memory) simply stops contributing. ``keep=False`` keeps no samples (only ``on_sample`` sees
    them), for a sampler that runs for a worker's whole life."""

    def __init__(self, pids: Mapping[str, int], interval_s: float, *, keep: bool = True,
                 on_sample: Callable[[str, int], None] | None = None, name: str = "memreplay-rss-sampler") -> None:
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._keep = keep
        self._on_sample = on_sample
        self._processes = {label: psutil.Process(pid) for label, pid in pids.items()}
        self._stop = threading.Event()
        self.started = time.time()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.time() - self.started
            for label, process in list(self._processes.items()):
                try:
                    rss = process.memory_info().rss
                except psutil.Error:  # the process ended
                    del self._processes[label]
                    continue
                if self._keep:
                    self.samples.append((now, label, rss))
                if self._on_sample is not None:
                    self._on_sample(label, rss)
            self._stop.wait(self.interval_s)

    def stop(self) -> list[Sample]:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.samples
