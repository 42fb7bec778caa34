"""The memory timeline plot: RSS over time per process, each task prefix's largest peak marked."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from harness.analysis.task_summary import largest_by_prefix
from harness.records.task_rows import MIB, read_task_rows

__all__ = ["draw_timeline"]


def draw_timeline(samples: Sequence[tuple[float, str, int]], png: Path, tasks_csv: Path | None,
                  started: float) -> None:
    """``samples`` are (seconds since ``started``, process, RSS bytes). Drawn on a bare Figure:
    no pyplot, no global backend switch."""
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots()
    for name in sorted({n for _, n, _ in samples}):
        points = [(t, rss / MIB) for t, n, rss in samples if n == name]
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
