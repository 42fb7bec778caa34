"""The memory timeline plot: RSS over time per process, each task prefix's largest peak marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec
from matplotlib.figure import Figure

from memreplay.analysis.task_summary import largest_by_prefix
from memreplay.records.schema import Timeline
from memreplay.records.task_rows import MIB, read_task_rows
from memreplay.records.timeline_samples import TimelineRow, read_timeline

__all__ = ["PNG_NAME", "draw_case_timeline", "draw_timeline"]

PNG_NAME = "timeline.png"


def draw_case_timeline(case_dir: Path, timeline: Timeline) -> Timeline:
    """Draw a case's ``timeline.png`` from its samples (and its ``tasks.csv``, where the per-task
    probe wrote one): the record with the picture named, or with why it could not be drawn. A
    plot that cannot be drawn never loses the measured case."""
    tasks = case_dir / "tasks.csv"
    try:
        draw_timeline(list(read_timeline(case_dir / timeline.csv)), case_dir / PNG_NAME,
                      tasks if tasks.exists() else None, timeline.started_unix_s or 0.0)
    except Exception as error:
        return msgspec.structs.replace(timeline, png=None,
                                       plot_error=f"{type(error).__name__}: {error}".splitlines()[0])
    return msgspec.structs.replace(timeline, png=PNG_NAME, plot_error=None)


def draw_timeline(samples: Sequence[TimelineRow], png: Path, tasks_csv: Path | None, started: float) -> None:
    """``samples``: the case's timeline, in seconds since ``started``. Drawn on a bare Figure: no
    pyplot, no global backend switch."""
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots()
    for name in sorted({row.process for row in samples}):
        points = [(row.time_s, row.rss_bytes / MIB) for row in samples if row.process == name]
        axes.plot([p[0] for p in points], [p[1] for p in points], label=name, linewidth=1)
    if tasks_csv is not None:
        finished = [row for row in read_task_rows(tasks_csv) if row.peak_bytes and row.stop]
        for prefix, row in largest_by_prefix(finished).items():
            x, y = (row.stop or started) - started, (row.peak_bytes or 0) / MIB
            axes.plot([x], [y], marker="v", color="black")
            # task prefixes are user text: never let matplotlib read "$...$" in them as math
            axes.annotate(f"{prefix} peak", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8,
                          usetex=False, parse_math=False)
    axes.set_xlabel("seconds since the case started")
    axes.set_ylabel("RSS (MiB)")
    axes.set_title(f"Memory timeline: {png.parent.name}", parse_math=False)
    for text in axes.legend(fontsize=7, loc="upper left").get_texts():
        text.set_parse_math(False)
    figure.tight_layout()
    figure.savefig(png, dpi=100)
