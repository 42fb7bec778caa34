"""Many task rows, generated (no cluster): the thinning that keeps a plot small keeps every
prefix and every prefix's largest tasks, the report's plots of 30,000 rows draw at most a few
thousand points and say so, and the reader keeps one copy of the strings rows repeat."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from memreplay.kinds.sweep_figures import distributions_section, task_rows_by_workload
from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from memreplay.records.task_rows import read_task_rows
from memreplay.report.blocks import Plots
from memreplay.report.plots import MOST_POINTS, thin
from memreplay.studies.million_rows import generate_task_rows

SWEEP = Path(__file__).parent / "data" / "schema9" / "sweep"
CASE = "wordcount-naive-1x1-400MiB-r0"


def test_thinning_keeps_every_group_its_largest_and_the_spread() -> None:
    items = [("map", float(i)) for i in range(100_000)] + [("reduce", float(i)) for i in range(7)]
    kept = thin(items, 2_000, group=lambda item: item[0], value=lambda item: item[1])
    assert 1_900 <= len(kept) <= 2_020
    assert [item for item in kept if item[0] == "reduce"] == [("reduce", float(i)) for i in range(7)]  # all 7
    values = sorted(value for group, value in kept if group == "map")
    assert values[-1000:] == [float(i) for i in range(99_000, 100_000)]  # the largest half of its share: all drawn
    assert values[0] < 1_000 and len({int(v) // 10_000 for v in values}) == 10  # and every decile of the rest
    assert thin(items[:50], 2_000, group=lambda item: item[0], value=lambda item: item[1]) == items[:50]


def test_the_reports_plot_of_many_rows_draws_a_thinned_set_and_says_so(tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(SWEEP, run)
    tasks = run / "cases" / CASE / "tasks.csv"
    generate_task_rows(tasks, tasks, 30_000, seed=3)
    rows = read_task_rows(tasks)
    assert len(rows) == 30_000 and len({row.task_key for row in rows}) == 30_000
    largest = max(rows, key=lambda row: row.peak_increase_bytes or 0)
    # one copy of each repeated string: a million rows hold a prefix once, not a million times
    assert len({id(row.worker) for row in rows}) == len({row.worker for row in rows})
    assert len({id(row.task_prefix) for row in rows}) == len({row.task_prefix for row in rows})
    record = load_record(run, SweepRecord)
    section = distributions_section(task_rows_by_workload(run, record))
    assert section is not None
    figures = [figure for block in section.blocks if isinstance(block, Plots) for figure in block.figures]
    drawn = {figure.title.text: len(figure.renderers[0].data_source.data["key"]) for figure in figures}
    many = next(title for title in drawn if title.startswith("wordcount-naive"))
    assert drawn[many] <= MOST_POINTS + 20
    other = read_task_rows(run / "cases" / CASE.replace("-r0", "-trimmed-r0") / "tasks.csv")  # the same workload
    assert f"of {30_000 + sum(not row.alias for row in other):,} tasks drawn" in many
    keys = set(next(f for f in figures if f.title.text == many).renderers[0].data_source.data["key"])
    assert largest.task_key in keys
    others = [title for title in drawn if not title.startswith("wordcount-naive")]
    assert others and all("drawn" not in title for title in others)  # a small plot draws every task


def test_a_generated_file_is_refused_from_a_file_that_is_not_a_tasks_csv(tmp_path: Path) -> None:
    template = tmp_path / "other.csv"
    template.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a memreplay tasks.csv"):
        generate_task_rows(template, tmp_path / "tasks.csv", 10)
    assert not (tmp_path / "tasks.csv").exists()
