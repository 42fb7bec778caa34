"""The report's interactive plots, as bokeh figures built from plain values (no record types):
configuration heat maps, per-prefix peak distributions, peak against input size with the fit,
memory timelines, scheduler structures and probe accuracy. Sizes are plotted in MiB; every
axis says its unit. User text (task keys, prefixes, workers) reaches a plot only as data in a
``ColumnDataSource``, which bokeh shows as text."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from bokeh.models import BoxAnnotation, ColumnDataSource, HoverTool, Label, NumeralTickFormatter, Span
from bokeh.palettes import Blues9, Category10_10
from bokeh.plotting import figure
from bokeh.transform import jitter

from memreplay.records.task_rows import MIB

__all__ = [
    "HeatCell", "TaskPoint", "change_plot", "heat_map", "model_plot", "peak_distribution", "probe_accuracy_plot",
    "MOST_POINTS", "THINNED_NOTE", "GraphLine", "memory_manager_plot", "thin", "thinned_title", "plan_plot",
    "scheduler_ladder_plot",
    "structures_plot", "timeline_plot",
]

WIDE, NARROW = 1180, 580
_TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
_MARKED = {"oom": "#b2182b", "timeout": "#7b3294", "error": "#4d4d4d"}  # cells that did not finish ok
_PALETTE = tuple(reversed(Blues9))  # light (small) to dark (large); red is kept for out of memory


def _style(plot: figure, x_label: str, y_label: str) -> figure:
    plot.xaxis.axis_label, plot.yaxis.axis_label = x_label, y_label
    plot.title.text_font_size = "13px"
    plot.toolbar.logo = None
    plot.outline_line_color = None
    return plot


@dataclass(frozen=True)
class HeatCell:
    row: tuple[str, str]  # (workload, shape WxT)
    column: str  # memory limit
    value: float | None  # None: nothing measured (see outcome)
    text: str  # what the cell says
    outcome: str
    case: str


def heat_map(title: str, cells: Sequence[HeatCell], unit: str) -> figure:
    """Rows: workload × shape; columns: memory limit. Colour is relative within each workload
    (a word count and an image pipeline differ a hundredfold), and neutral where a workload's
    cells differ by less than a tenth; cells that did not finish are coloured by outcome and
    say it."""
    rows = list(dict.fromkeys(cell.row for cell in cells))
    columns = list(dict.fromkeys(cell.column for cell in cells))
    span: dict[str, tuple[float, float]] = {}
    for workload in dict.fromkeys(row[0] for row in rows):
        values = [c.value for c in cells if c.row[0] == workload and c.value is not None]
        span[workload] = (min(values), max(values)) if values else (0.0, 0.0)

    def shade(cell: HeatCell) -> str:
        if cell.value is None:
            return _MARKED.get(cell.outcome, "#bbbbbb")
        low, high = span[cell.row[0]]
        position = 0.25 if high - low <= 0.1 * abs(high) else (cell.value - low) / (high - low)
        return _PALETTE[min(len(_PALETTE) - 1, int(position * (len(_PALETTE) - 1) + 0.5))]

    def label(row: tuple[str, str]) -> str:
        return f"{row[0]}  {row[1]}"

    source = ColumnDataSource({
        "row": [label(cell.row) for cell in cells], "column": [cell.column for cell in cells],
        "colour": [shade(cell) for cell in cells], "text": [cell.text for cell in cells],
        "ink": ["white" if cell.value is None or shade(cell) in _PALETTE[-4:] else "black" for cell in cells],
        "outcome": [cell.outcome for cell in cells], "case": [cell.case for cell in cells],
    })
    plot = figure(title=title, x_range=columns, y_range=[label(row) for row in reversed(rows)],
                  width=260 + 110 * len(columns) + 6 * max(len(label(row)) for row in rows),
                  height=80 + 26 * len(rows), tools="hover,save", toolbar_location="right",
                  tooltips=[("case", "@case"), ("outcome", "@outcome"), (unit, "@text")])
    plot.rect("column", "row", 1, 1, source=source, fill_color="colour", line_color="white")
    plot.text("column", "row", text="text", source=source, text_align="center", text_baseline="middle",
              text_font_size="11px", text_color="ink")
    plot.xaxis.major_label_text_font_size = "12px"
    plot.yaxis.major_label_text_font_size = "11px"
    plot.grid.grid_line_color = None
    plot.axis.axis_line_color = None
    return _style(plot, "memory limit per worker", "")


@dataclass(frozen=True)
class TaskPoint:
    key: str
    prefix: str
    peak_increase_bytes: int
    input_bytes: int | None
    worker: str
    case: str
    alone: bool


def _task_source(points: Sequence[TaskPoint]) -> ColumnDataSource:
    return ColumnDataSource({
        "key": [p.key for p in points], "prefix": [p.prefix for p in points],
        "peak": [p.peak_increase_bytes / MIB for p in points],
        "input": [math.nan if p.input_bytes is None else p.input_bytes / MIB for p in points],
        "input_text": ["-" if p.input_bytes is None else f"{p.input_bytes / MIB:.2f} MiB" for p in points],
        "worker": [p.worker for p in points], "case": [p.case for p in points],
        "alone": ["alone in its worker" if p.alone else "beside other tasks" for p in points],
        "colour": [Category10_10[0] if p.alone else Category10_10[1] for p in points],
    })


_TASK_TOOLTIPS = [("task", "@key"), ("prefix", "@prefix"), ("peak increase", "@peak{0,0.00} MiB"),
                  ("input", "@input_text"), ("worker", "@worker"), ("case", "@case"), ("ran", "@alone")]


MOST_POINTS = 2_000  # points one scatter plot draws; past them, a thinned set (see thin)
T = TypeVar("T")


def thin(items: Sequence[T], most: int, group: Callable[[T], str], value: Callable[[T], float]) -> list[T]:
    """At most about ``most`` of ``items``, for a plot that must stay small: each group keeps a
    share in proportion to its size (at least 10 where it has them), half of it its largest
    values and half an even sample of the rest by value, so every group shows, its largest
    points are all drawn and its distribution keeps its shape."""
    if len(items) <= most:
        return list(items)
    groups: dict[str, list[T]] = defaultdict(list)
    for item in items:
        groups[group(item)].append(item)
    kept: list[T] = []
    for members in groups.values():
        share = max(min(len(members), 10), most * len(members) // len(items))
        if len(members) <= share:
            kept += members
            continue
        by_value = sorted(members, key=value, reverse=True)
        top, rest = by_value[:share // 2], by_value[share // 2:]
        step = len(rest) / (share - len(top))
        kept += top + [rest[int(i * step)] for i in range(share - len(top))]
    return kept


THINNED_NOTE = (f"Past {MOST_POINTS:,} tasks a plot draws each prefix's largest tasks and an even sample of the "
                "rest by peak increase (its title says how many of how many); the tables are made from every task.")


def thinned_title(title: str, drawn: int, total: int, what: str = "tasks") -> str:
    """The title, saying how many of the points are drawn when not all are (THINNED_NOTE says how)."""
    if drawn >= total:
        return title
    return f"{title} ({drawn:,} of {total:,} {what} drawn)"


def peak_distribution(title: str, points: Sequence[TaskPoint]) -> figure:
    """Every task's peak increase, one row per prefix, jittered; blue ran alone in its worker."""
    prefixes = sorted({p.prefix for p in points}, reverse=True)
    plot = figure(title=title, y_range=prefixes, width=NARROW, height=90 + 46 * len(prefixes), tools=_TOOLS,
                  toolbar_location="right")
    plot.scatter("peak", jitter("prefix", width=0.5, range=plot.y_range), source=_task_source(points),
                 color="colour", alpha=0.6, size=6)
    plot.add_tools(HoverTool(tooltips=_TASK_TOOLTIPS))
    plot.xaxis.formatter = NumeralTickFormatter(format="0,0.[0]")
    return _style(plot, "peak increase (MiB)", "task prefix")


def model_plot(title: str, points: Sequence[TaskPoint], slope: float, intercept_bytes: float,
               held_out: tuple[int, int, int], points_label: str = "tasks alone in their worker") -> figure:
    """Peak increase against input size, the fitted line, and the held-out point: (input,
    predicted, measured) bytes."""
    plot = figure(title=title, width=NARROW, height=370, tools=_TOOLS, toolbar_location="right")
    plot.scatter("input", "peak", source=_task_source(points), color="colour", alpha=0.7, size=7,
                 legend_label=points_label)
    largest = max([p.input_bytes or 0 for p in points] + [held_out[0]])
    xs = np.array([0.0, largest], dtype=np.float64)
    plot.line(xs / MIB, (intercept_bytes + slope * xs) / MIB, color="#444444", line_dash="dashed",
              legend_label="linear fit (all points)")
    plot.scatter([held_out[0] / MIB], [held_out[2] / MIB], marker="circle", size=15, fill_alpha=0,
                 line_width=2, color="#1b7837", legend_label="held-out input, measured")
    plot.scatter([held_out[0] / MIB], [held_out[1] / MIB], marker="x", size=14, line_width=3, color="#b2182b",
                 legend_label="held-out input, predicted from the rest")
    plot.add_tools(HoverTool(tooltips=_TASK_TOOLTIPS, renderers=[plot.renderers[0]]))
    plot.legend.location = "top_left"  # peaks grow to the right: the top left is the emptiest corner
    plot.legend.label_text_font_size = "10px"
    plot.legend.background_fill_alpha = 0.6
    plot.legend.padding = 4
    plot.legend.spacing = 0
    return _style(plot, "input size (MiB)", "peak increase (MiB)")


def _thinned(times: np.ndarray, values: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``most`` points, keeping each bin's highest value: thinning never hides a peak."""
    if len(times) <= most:
        return times, values
    bins = np.array_split(np.arange(len(times)), most)
    keep = np.array([b[np.argmax(values[b])] for b in bins])
    return times[keep], values[keep]


def timeline_plot(title: str, samples: Mapping[str, tuple[Sequence[float], Sequence[int]]],
                  width: int = NARROW) -> figure:
    """RSS over time, one line per process."""
    plot = figure(title=title, width=width, height=300, tools=_TOOLS, toolbar_location="right")
    for colour, (process, (times, rss)) in zip(Category10_10 * 10, sorted(samples.items())):
        t, v = _thinned(np.asarray(times, dtype=np.float64), np.asarray(rss, dtype=np.float64), 1500)
        plot.line(t, v / MIB, color=colour, legend_label=process, line_width=1.5)
    plot.legend.label_text_font_size = "10px"
    plot.legend.click_policy = "hide"
    plot.add_layout(plot.legend[0], "right")  # beside the lines, never over them
    return _style(plot, "seconds since the case started", "RSS (MiB)")


# The dashboard's worker-memory colours: managed blue, unmanaged a paler blue, spilled grey.
MANAGED, UNMANAGED, SPILLED = ("blue", 1.0), ("blue", 0.4), ("grey", 1.0)
_THRESHOLD_LINES = {"target": ("orange", "dashed"), "spill": ("orange", "solid"), "pause": ("red", "dashed"),
                    "terminate": ("red", "solid")}


def memory_manager_plot(title: str, times: Sequence[float], managed: Sequence[int], unmanaged: Sequence[int],
                        spilled: Sequence[int], memory_limit: int | None, thresholds: Mapping[str, object],
                        paused: Sequence[tuple[float, float]], width: int = NARROW) -> figure:
    """One worker's memory as Dask's dashboard draws it, over time: managed, unmanaged and
    spilled (its bytes on disk), stacked; the memory limit and the target, spill, pause and terminate lines (as
    fractions of it); the spans the worker was paused, shaded red."""
    plot = figure(title=title, width=width, height=260, tools=_TOOLS, toolbar_location="right")
    t = np.asarray(times, dtype=np.float64)
    if len(t) > 1500:  # every stacked series thinned at the same moments
        keep = np.linspace(0, len(t) - 1, 1500).astype(int)
    else:
        keep = np.arange(len(t))
    stacked = {"managed": managed, "unmanaged": unmanaged, "spilled": spilled}
    source = ColumnDataSource({"t": t[keep], **{name: np.asarray(values, dtype=np.float64)[keep] / MIB
                                                for name, values in stacked.items()}})
    plot.varea_stack(["managed", "unmanaged", "spilled"], x="t", source=source,
                     color=[MANAGED[0], UNMANAGED[0], SPILLED[0]], alpha=[MANAGED[1], UNMANAGED[1], SPILLED[1]],
                     legend_label=["managed", "unmanaged", "spilled (bytes on disk)"])
    for start, stop in paused:
        plot.add_layout(BoxAnnotation(left=start, right=stop, fill_color="red", fill_alpha=0.12, line_alpha=0))
    span = [float(t[0]), float(t[-1])] if len(t) else [0.0, 1.0]
    if memory_limit:  # lines across the case, not spans: the y range then always holds them
        plot.line(span, [memory_limit / MIB] * 2, color="black", line_width=1.5, legend_label="memory limit")
        for name, (colour, dash) in _THRESHOLD_LINES.items():
            fraction = thresholds.get(name)
            if isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and fraction:
                plot.line(span, [memory_limit * float(fraction) / MIB] * 2, color=colour, line_dash=dash,
                          line_width=1.5, legend_label=f"{name} {fraction:g}")
    if paused:
        plot.scatter([span[0]], [0], marker="square", size=0, color="red", alpha=0.3, legend_label="paused")
    plot.y_range.start = 0
    plot.legend.label_text_font_size = "10px"
    plot.legend.click_policy = "hide"
    plot.add_layout(plot.legend[0], "right")
    return _style(plot, "seconds since the case started", "MiB")


def structures_plot(title: str, structures: Sequence[str], default: Sequence[int], trimmed: Sequence[int],
                    measure: str = "deep size", profiles: tuple[str, str] = ("default", "trimmed")) -> figure:
    """Bytes of each thing under two scheduler presets, bar beside bar: by default the deep size
    of each bounded scheduler structure, default preset beside trimmed."""
    labels = [f"{name}  {preset}" for name in structures for preset in profiles]
    values = [v / MIB for pair in zip(default, trimmed) for v in pair]
    source = ColumnDataSource({"label": labels, "mib": values,
                               "colour": [Category10_10[0] if label.endswith(profiles[0]) else Category10_10[2]
                                          for label in labels]})
    plot = figure(title=title, y_range=list(reversed(labels)), width=NARROW, height=80 + 20 * len(labels),
                  tools="hover,save", toolbar_location="right",
                  tooltips=[("", "@label"), (measure, "@mib{0,0.00} MiB")])
    plot.hbar(y="label", right="mib", height=0.8, source=source, color="colour")
    plot.x_range.start = 0
    return _style(plot, f"{measure} (MiB)", "")


def probe_accuracy_plot(title: str, truth: Sequence[int], measured: Sequence[int | None],
                        keys: Sequence[str]) -> figure:
    """Measured against true peak increase per task; the diagonal is exact."""
    pairs = [(t / MIB, m / MIB, k) for t, m, k in zip(truth, measured, keys) if m is not None]
    plot = figure(title=title, width=NARROW // 2 + 90, height=320, tools=_TOOLS, toolbar_location="right")
    largest = max([max(p[0], p[1]) for p in pairs], default=1.0)
    plot.line([0, largest], [0, largest], color="#999999", line_dash="dashed")
    source = ColumnDataSource({"truth": [p[0] for p in pairs], "measured": [p[1] for p in pairs],
                               "key": [p[2] for p in pairs]})
    dots = plot.scatter("truth", "measured", source=source, size=6, alpha=0.7)
    plot.add_tools(HoverTool(renderers=[dots], tooltips=[("task", "@key"), ("truth", "@truth{0,0.00} MiB"),
                                                         ("measured", "@measured{0,0.00} MiB")]))
    missing = len(truth) - len(pairs)
    if missing:
        plot.add_layout(Label(x=10, y=10, x_units="screen", y_units="screen", text=f"{missing} tasks without a row",
                              text_font_size="11px", text_color="#b2182b"))
    return _style(plot, "true peak increase (MiB)", "measured (MiB)")



def change_plot(title: str, cases: Sequence[str], ratios: Sequence[float | None], regressed: Sequence[bool],
                threshold: float) -> figure:
    """HEAD's figure as a percentage of BASE's, one bar per case; the threshold drawn; red bars
    regressed (the noise floor as well as the threshold)."""
    shown = [(case, 100 * (ratio - 1), bad) for case, ratio, bad in zip(cases, ratios, regressed) if ratio is not None]
    source = ColumnDataSource({"case": [s[0] for s in shown], "change": [s[1] for s in shown],
                               "colour": ["#b2182b" if s[2] else "#4d79a8" for s in shown]})
    plot = figure(title=title, y_range=list(reversed([s[0] for s in shown])), width=NARROW,
                  height=90 + 22 * max(1, len(shown)), tools="hover,save", toolbar_location="right",
                  tooltips=[("case", "@case"), ("change", "@change{+0.0} %")])
    plot.hbar(y="case", right="change", height=0.7, source=source, color="colour")
    plot.add_layout(Span(location=100 * threshold, dimension="height", line_color="#b2182b", line_dash="dashed"))
    plot.add_layout(Span(location=0, dimension="height", line_color="#444444"))
    return _style(plot, "change, HEAD against BASE (%)", "")


def plan_plot(title: str, machines: Sequence[str], seconds: Sequence[float], costs: Sequence[float],
              front: Sequence[bool], currency: str, chosen: str | None) -> figure:
    """Each machine type's total time against its cost; the Pareto front (no other type both
    faster and cheaper) joined and dark, the chosen one ringed. Time in the unit its largest
    value reads best in."""
    longest = max(seconds, default=0.0)
    unit, per = ("hours", 3600.0) if longest >= 7200 else ("minutes", 60.0) if longest >= 120 else ("seconds", 1.0)
    times = [value / per for value in seconds]
    plot = figure(title=title, width=NARROW, height=420, tools=_TOOLS, toolbar_location="right")
    source = ColumnDataSource({"machine": list(machines), "time": times, "cost": list(costs),
                               "colour": ["#08519c" if on else "#9ecae1" for on in front],
                               "where": ["on the Pareto front" if on else "dominated" for on in front]})
    dots = plot.scatter("time", "cost", source=source, color="colour", size=11, alpha=0.9,
                        legend_label="machine type (dark: on the Pareto front)")
    on_front = sorted((t, c) for t, c, on in zip(times, costs, front) if on)
    if len(on_front) > 1:
        plot.line([t for t, _ in on_front], [c for _, c in on_front], color="#08519c", line_width=2,
                  legend_label="Pareto front: faster costs more")
    for name, t, c in zip(machines, times, costs):
        plot.add_layout(Label(x=t, y=c, text=name, y_offset=9, text_align="center", text_font_size="10px"))
    if chosen in machines:
        at = list(machines).index(chosen)
        plot.scatter([times[at]], [costs[at]], marker="circle", size=20, fill_alpha=0, line_width=2,
                     color="#1b7837", legend_label="the plan: cheapest that fits")
    plot.add_tools(HoverTool(tooltips=[("machine", "@machine"), ("total time", f"@time{{0,0.00}} {unit}"),
                                       ("cost", f"@cost{{0,0.[000000]}} {currency}"), ("", "@where")],
                             renderers=[dots]))
    plot.x_range.range_padding = plot.y_range.range_padding = 0.25  # room for the labels at the edges
    plot.legend.label_text_font_size = "10px"
    plot.legend.spacing = 0
    plot.add_layout(plot.legend[0], "below")  # never over a machine's dot
    return _style(plot, f"total time ({unit})", f"cost ({currency})")


@dataclass(frozen=True)
class GraphLine:
    """One shape on the scheduler ladder: the graphs held (tasks, bytes), the fitted line, and
    the held-out graph's predicted and measured bytes."""

    shape: str
    tasks: Sequence[int]
    graph_bytes: Sequence[int]
    slope: float
    intercept_bytes: float
    held_out: tuple[int, int, int]  # tasks, predicted, measured


def scheduler_ladder_plot(title: str, lines: Sequence[GraphLine]) -> figure:
    """What a graph adds to the scheduler against its task count, one colour per shape: the
    measured graphs, each shape's line, and the held-out graph predicted from the smaller ones."""
    plot = figure(title=title, width=NARROW, height=370, tools=_TOOLS, toolbar_location="right")
    largest = max((max(line.tasks) for line in lines if line.tasks), default=1)
    for colour, line in zip(Category10_10, lines):
        plot.scatter(list(line.tasks), [b / MIB for b in line.graph_bytes], color=colour, size=7, alpha=0.8,
                     legend_label=f"{line.shape}: graphs held")
        xs = np.array([0.0, largest], dtype=np.float64)
        plot.line(xs, (line.intercept_bytes + line.slope * xs) / MIB, color=colour, line_dash="dashed",
                  legend_label=f"{line.shape}: {line.slope:,.0f} B per task")
        plot.scatter([line.held_out[0]], [line.held_out[1] / MIB], marker="x", size=14, line_width=3,
                     color=colour)
    plot.legend.location = "top_left"
    plot.legend.label_text_font_size = "10px"
    plot.legend.background_fill_alpha = 0.6
    plot.legend.padding = 4
    plot.legend.spacing = 0
    plot.xaxis.formatter = NumeralTickFormatter(format="0,0")
    return _style(plot, "tasks in the graph (x: the largest, predicted from the rest)", "graph held (MiB)")
