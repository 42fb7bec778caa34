"""Memory over time for every worker process and the scheduler, as a CSV per case (its
plot is drawn in :mod:`memreplay.report.timeline_plot`).

Each process samples its own RSS every 50 ms with the shared RSS sampler: a worker plugin on
every worker (those that join during the case too), reporting each sample to the scheduler on
the worker's own stream, and a thread in the scheduler for the scheduler. The driver collects
them at the end, so nothing assumes the workers are processes of this machine. A worker that is
killed keeps every sample it sent before.
"""

from __future__ import annotations

import time
from typing import Any

from memreplay.probes.base import ProbeContext
from memreplay.probes.timeline_collector import PLUGIN_NAME, finish_timeline, install_timeline
from memreplay.records.schema import Timeline
from memreplay.records.timeline_samples import TimelineRow, write_timeline

__all__ = ["TimelineProbe"]

class TimelineProbe:
    name = "timeline"
    csv_name = "timeline.csv"

    def __init__(self, interval_s: float = 0.05, memory_manager: bool = True) -> None:
        self.interval_s = interval_s
        self.memory_manager = memory_manager  # False: RSS only (the probe benchmark's baseline of this)
        self._client: Any = None

    def start(self, client: Any, context: ProbeContext) -> None:
        self._client, self._case_dir = client, context.case_dir
        self._started = time.time()
        client.run_on_scheduler(install_timeline, interval_s=self.interval_s, memory_manager=self.memory_manager)

    def stop(self, outcome: str) -> Timeline:
        assert self._client is not None, "stop() before start()"
        collected = self._client.run_on_scheduler(finish_timeline)
        try:  # stop the workers' samplers (a running cluster outlives the case)
            self._client.unregister_worker_plugin(PLUGIN_NAME)
        except Exception:  # noqa: S110 (a worker that died has no sampler left to stop)
            pass
        samples = [TimelineRow(max(0.0, row[0] - self._started), *row[1:]) for row in collected]
        write_timeline(self._case_dir / self.csv_name, samples)
        processes = sorted({row.process for row in samples})
        return Timeline(
            csv=self.csv_name, png=None, samples=len(samples), processes=processes,
            peak_rss_bytes={name: max(row.rss_bytes for row in samples if row.process == name) for name in processes},
            started_unix_s=self._started,
        )
