"""Memory over time for every worker process and the scheduler, as a CSV and a PNG per case.

The shared RSS sampler reads each process's RSS every 50 ms from the driver. The PNG marks,
per task prefix, the task with the largest peak increase, read from the case's ``tasks.csv``
when the per-task probe wrote one.
"""

from __future__ import annotations

import os
from typing import Any

from harness.probes.base import ProbeContext
from harness.probes.rss_sampler import RssSampler
from harness.records.schema import Timeline
from harness.records.timeline_samples import SCHEDULER, write_timeline
from harness.report.timeline_plot import draw_timeline

__all__ = ["TimelineProbe"]


class TimelineProbe:
    name = "timeline"
    csv_name = "timeline.csv"
    png_name = "timeline.png"

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self._sampler: RssSampler | None = None

    def start(self, client: Any, context: ProbeContext) -> None:
        self._case_dir = context.case_dir
        # the scheduler's own process, and each worker's (asked of each process itself)
        pids = {SCHEDULER: client.run_on_scheduler(os.getpid), **client.run(os.getpid)}
        self._sampler = RssSampler(pids, self.interval_s, name="memreplay-timeline")

    def stop(self, outcome: str) -> Timeline:
        assert self._sampler is not None, "stop() before start()"
        samples = self._sampler.stop()
        write_timeline(self._case_dir / self.csv_name, samples)
        tasks = self._case_dir / "tasks.csv"
        png, plot_error = self.png_name, None
        try:
            draw_timeline(samples, self._case_dir / png, tasks if tasks.exists() else None, self._sampler.started)
        except Exception as error:  # a plot that cannot be drawn never loses the measured case
            png, plot_error = None, f"{type(error).__name__}: {error}".splitlines()[0]
        processes = sorted({name for _, name, _ in samples})
        return Timeline(
            csv=self.csv_name, png=png, samples=len(samples), processes=processes,
            peak_rss_bytes={name: max(rss for _, n, rss in samples if n == name) for name in processes},
            plot_error=plot_error,
        )

