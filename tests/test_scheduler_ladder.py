"""The scheduler ladder: its graphs, its fit on generated points (the held-out graph, the logs'
bound, what running adds, the limit), its refusals before any process starts, one graph held by
a real scheduler with no workers and one run on real workers, and the limit in recommend and
plan from a checked-in ladder record."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import msgspec
import psutil
import pytest
from dask.utils import format_bytes

from memreplay.analysis.scheduler_model import (
    calibrate,
    fit_graph_models,
    log_parts,
    logs_bytes,
    running_bytes,
    scheduler_limit,
    scheduler_limits,
)
from memreplay.errors import UserError
from memreplay.plan.distributed_config import load_preset
from memreplay.records.schema import (
    ExecutedCheck,
    GraphPoint,
    SchedulerLadder,
    SchedulerRecord,
    SchedulerScenario,
    StructureSize,
)
from memreplay.records.store import load_record
from memreplay.studies.scheduler_ladder import build_graph, check_ladder, execute_graph, hold_graph
from tests.helpers.cli import MEMREPLAY, assert_one_line_error

DATA = Path(__file__).parent / "data"
LADDER = DATA / "schema9" / "scheduler"
SWEEP = DATA / "schema9" / "sweep"
DEFAULT = Path(__file__).parents[1] / "configs" / "scheduler" / "default.toml"
KIB = 1024


@pytest.mark.parametrize("shape", ["independent", "tree", "shuffle"])
def test_each_shape_has_about_the_tasks_asked_and_its_edges(shape: str) -> None:
    graph = build_graph(shape, 10_000)
    assert 9_000 <= len(graph.tasks) <= 11_000
    dependencies = sum(sum(1 for arg in task[1:] if isinstance(arg, str) and arg in graph.tasks)
                       for task in graph.tasks.values())
    assert dependencies == graph.edges
    assert set(graph.keys) <= set(graph.tasks)
    expected_keys = {"independent": len(graph.tasks), "tree": 1, "shuffle": 99}[shape]
    assert len(graph.keys) == expected_keys
    if shape == "shuffle":  # all to all: every output gathers one piece of every input
        assert graph.edges == 2 * 99 * 99 and len(graph.tasks) == 99 * 99 + 2 * 99


@pytest.mark.parametrize(("sizes", "shapes", "fragment"), [
    ([100, 200, 400], ["tree"], "at least 4 different task counts"),
    ([100, 100, 200, 400], ["tree"], "at least 4 different task counts"),
    ([5, 100, 200, 400], ["tree"], "5 tasks is outside 10 to 10,000,000"),
    ([100, 200, 400, 20_000_000], ["tree"], "outside 10 to"),
    ([100, 200, 400, 800], ["ring"], "--shapes: ring: the shapes are independent, tree, shuffle"),
    ([1_000, 1_010, 1_020, 1_030], ["tree", "shuffle"], "the shuffle graphs of these sizes have only 2 different"),
])
def test_a_ladder_that_cannot_be_fitted_is_refused(sizes: list[int], shapes: list[str], fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        check_ladder(sizes, shapes)


@pytest.mark.parametrize(("arguments", "fragments"), [
    (["--ladder", "--sizes", "100", "200", "300"], ["--sizes", "at least 4"]),
    (["--ladder", "--shapes", "ring"], ["--shapes: ring"]),
    (["--sizes", "100", "200", "300", "400"], ["--sizes and --shapes: only with --ladder"]),
])
def test_bad_ladder_options_are_one_line_before_any_process(cli, tmp_path: Path, arguments: list[str],
                                                            fragments: list[str]) -> None:
    result = cli("scheduler", *arguments, "--results", str(tmp_path))
    assert_one_line_error(result, *fragments)
    assert not list(tmp_path.glob("runs/*"))  # nothing started, nothing written


def _point(preset: str, shape: str, tasks: int, per_task: float, noise: int = 0) -> GraphPoint:
    before = 80 * 2**20
    logs = 300 * KIB
    return GraphPoint(preset=preset, shape=shape, tasks=tasks, edges=tasks, rss_before_bytes=before,
                      rss_held_bytes=before + logs + 400 * KIB + round(per_task * tasks) + noise, logs_bytes=logs,
                      submit_s=0.1)


def test_the_fit_recovers_the_bytes_per_task_and_predicts_the_held_out_graph() -> None:
    noise = [20 * KIB, -30 * KIB, 10 * KIB, -10 * KIB]
    points = ([_point("default", "tree", n, 3_500, e) for n, e in zip((5_000, 10_000, 20_000, 40_000), noise)]
              + [_point("default", "shuffle", n, 4_000) for n in (5_000, 10_000, 20_000, 40_000)]
              + [_point("default", "independent", n, 3_000) for n in (5_000, 10_000)])  # too few to fit
    models = {model.shape: model for model in fit_graph_models(points)}
    assert set(models) == {"tree", "shuffle"}
    tree = models["tree"]
    assert tree.bytes_per_task == pytest.approx(3_500, rel=0.01)
    assert tree.base_rss_bytes == 80 * 2**20 and tree.points == 4
    assert tree.heldout.tasks == 40_000 and abs(tree.heldout.error_percent) < 1
    assert tree.heldout.measured_bytes == points[3].graph_bytes  # the logs are not the graph's
    assert models["shuffle"].intercept_bytes == pytest.approx(400 * KIB, abs=KIB)


def test_a_point_is_the_live_rss_where_measured_and_the_rss_as_it_sits_in_older_records() -> None:
    point = _point("default", "tree", 10_000, 3_500)
    assert point.rss_live_bytes is None  # an older schema-9 record, or no malloc_trim
    assert point.graph_bytes == point.rss_held_bytes - point.rss_before_bytes - point.logs_bytes
    live = msgspec.structs.replace(point, rss_live_bytes=point.rss_held_bytes - 5_000_000)
    assert live.graph_bytes == point.graph_bytes - 5_000_000


def _scenario(transitions: int, structures: dict[str, StructureSize]) -> SchedulerScenario:
    return SchedulerScenario(label="default", preset={}, tasks=transitions // 5, load_s=1.0, idle_s=0.0,
                             rss_start_bytes=1, rss_end_bytes=1, rss_timeline=[], structures=structures,
                             settings={}, transitions=transitions, pid=1, dask="x")


def test_the_logs_hold_entries_per_transition_up_to_their_capacity() -> None:
    scenario = _scenario(10_000, {
        "transition_log": StructureSize(entries=1_000, bytes=330_000, capacity=1_000),
        "task_stream": StructureSize(entries=2_000, bytes=2_000_000, capacity=100_000),
        "erred_tasks": StructureSize(entries=0, bytes=760, capacity=100),
        "unbounded": StructureSize(entries=10, bytes=1_000, capacity=None),
    })
    parts = {part.structure: part for part in log_parts(scenario)}
    assert parts["transition_log"].bytes_per_entry == 330 and parts["transition_log"].bound_bytes == 330_000
    assert parts["transition_log"].full and not parts["task_stream"].full
    assert parts["task_stream"].entries_per_transition == pytest.approx(0.2)
    assert parts["erred_tasks"].bytes_per_entry is None and parts["unbounded"].bound_bytes is None
    # after 50,000 transitions: the transition log is full, the task stream holds 10,000 entries
    assert logs_bytes(parts.values(), 50_000) == 330_000 + 10_000 * 1_000 + 50 * 100
    # full: every bounded log at its capacity; the unbounded one still grows per transition
    assert logs_bytes(parts.values(), 50_000, full=True) == 330_000 + 100_000 * 1_000 + 50 * 100


def test_running_is_calibrated_on_a_graph_run_and_the_limit_takes_the_hungriest_shape() -> None:
    points = ([_point("default", "tree", n, 3_500) for n in (1_000, 2_000, 4_000, 8_000)]
              + [_point("default", "shuffle", n, 4_000) for n in (1_000, 2_000, 4_000, 8_000)])
    models = fit_graph_models(points)
    logs = log_parts(_scenario(10_000, {"transition_log": StructureSize(entries=1_000, bytes=330_000,
                                                                         capacity=1_000)}))
    start = 90 * 2**20
    # a tree graph ran: 2,000 B per task more than it held, 6 transitions a task; the transition
    # log was full in the scenario it was measured in, so it is counted full (its rate a lower bound)
    tree = next(model for model in models if model.shape == "tree")
    peak = start + 400 * KIB + 3_500 * 1_000 + 2_000 * 1_000 + 330_000
    tree = calibrate(tree, logs, 1_000, 6_000, start, peak)
    assert tree.running_bytes_per_task == pytest.approx(2_000, rel=0.01) and tree.transitions_per_task == 6
    assert running_bytes(tree, logs, 8_000) == pytest.approx(400 * KIB + 5_500 * 8_000 + 330_000, rel=0.01)
    shuffle = calibrate(next(model for model in models if model.shape == "shuffle"), logs, 1_000, 4_000, start,
                        start + 400 * KIB + 4_000 * 1_000 + 100 * 1_000 + 330_000)
    ladder = SchedulerLadder(points=points, models=[tree, shuffle], logs={"default": logs})
    assert scheduler_limit(ladder, 1_000) is None  # nothing ran on workers: no start RSS to build on
    ladder.executed = [ExecutedCheck(role="calibration", preset="default", shape="tree", tasks=1_000, workers=2,
                                     transitions=6_000, rss_start_bytes=start, predicted_bytes=None, peak_bytes=peak,
                                     peak_method="clear_refs", error_percent=None, seconds=1.0)]
    limit = scheduler_limit(ladder, 1_000_000)
    assert limit is not None and limit.shape == "tree"  # 5,500 B per task running against 4,100
    assert limit.limit_bytes == start + running_bytes(tree, logs, 1_000_000, full_logs=True)
    assert limit.extrapolated and limit.largest_measured_tasks == 8_000
    assert scheduler_limit(ladder, 1_000, "trimmed") is None
    assert [lim.preset for lim in scheduler_limits(ladder, 10)] == ["default"]


def test_a_graph_held_by_a_scheduler_with_no_workers_and_one_run_on_workers() -> None:
    preset = load_preset(DEFAULT)
    point = hold_graph(preset, "default", "independent", 2_000)
    assert point.tasks == 2_000 and point.rss_held_bytes > point.rss_before_bytes
    # glibc here: the live reading is taken, at most the RSS as it sits, and is what is fitted
    assert point.rss_live_bytes is not None and point.rss_before_bytes < point.rss_live_bytes <= point.rss_held_bytes
    assert point.graph_bytes == point.rss_live_bytes - point.rss_before_bytes - point.logs_bytes
    # a held task costs the scheduler kilobytes (3 KB on distributed 2026.8), not bytes nor megabytes
    assert 1_000 < point.graph_bytes / point.tasks < 20_000, point
    run = execute_graph(preset, "tree", 400)
    assert run.tasks == len(build_graph("tree", 400).tasks)
    assert run.peak >= run.rss_start > 0 and run.transitions >= 3 * run.tasks and run.seconds > 0


def test_recommend_and_plan_give_the_schedulers_limit_from_the_ladder_beside_the_run(cli, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    sweep, ladder = runs / "20261201T000000-sweep-aaaa", runs / "20261202T000000-scheduler-bbbb"
    shutil.copytree(SWEEP, sweep)
    shutil.copytree(LADDER, ladder)
    record = load_record(ladder, SchedulerRecord)
    assert record.ladder is not None
    expected = scheduler_limit(record.ladder, 1_000_000, "trimmed")
    result = cli("recommend", str(sweep), "--cores", "4", "--memory", "8GiB", "--tasks", "1000000")
    assert result.returncode == 0, result.stderr
    assert "The scheduler's memory limit under preset default:" in result.stdout
    assert f"under preset trimmed: {format_bytes(expected.limit_bytes)} for 1,000,000 tasks" in result.stdout
    assert f"From the scheduler ladder {ladder}." in " ".join(result.stdout.split())
    result = cli("recommend", str(sweep), "--cores", "4", "--memory", "8GiB", "--tasks", "1000", "--json")
    limits = msgspec.json.decode(result.stdout)["scheduler"]
    assert [limit["preset"] for limit in limits] == ["default", "trimmed"] and limits[0]["tasks"] == 1_000
    # the plan sizes each workload's scheduler for its swept graph scaled as its input
    result = cli("plan", str(sweep), "--machines", "example", "--input", "4x", "--json")
    assert result.returncode in (0, 1), result.stderr
    plans = msgspec.json.decode(result.stdout)["workloads"]
    sized = [plan for plan in plans.values() if plan["scheduler"]]
    assert sized and all(plan["scheduler_tasks_from"].startswith("the swept graph's") for plan in sized)
    assert all(placed["machine"] for plan in sized for placed in plan["scheduler"])
    # a ladder stopped before its graphs ran on workers is passed over, not given as the newest
    unfinished = runs / "20261203T000000-scheduler-cccc"
    shutil.copytree(LADDER, unfinished)
    document = msgspec.json.decode((unfinished / "run.json").read_bytes())
    document["ladder"]["executed"] = []
    (unfinished / "run.json").write_bytes(msgspec.json.encode(document))
    result = cli("recommend", str(sweep), "--cores", "4", "--memory", "8GiB", "--tasks", "1000")
    assert result.returncode == 0 and f"From the scheduler ladder {ladder}." in " ".join(result.stdout.split())
    # refusals, in one line: no ladder anywhere, a ladder option without --tasks, a sweep given as the ladder
    alone = tmp_path / "alone" / "runs" / sweep.name
    shutil.copytree(SWEEP, alone)
    assert_one_line_error(cli("recommend", str(alone), "--cores", "4", "--memory", "8GiB", "--tasks", "10"),
                          "--tasks: no scheduler ladder beside", "memreplay scheduler --ladder")
    assert_one_line_error(cli("recommend", str(sweep), "--cores", "4", "--memory", "8GiB", "--scheduler-ladder",
                              str(ladder)), "--scheduler-ladder: only with --tasks")
    assert_one_line_error(cli("recommend", str(sweep), "--cores", "4", "--memory", "8GiB", "--tasks", "10",
                              "--scheduler-ladder", str(sweep)), "is a sweep record, not a scheduler record")
    assert_one_line_error(cli("recommend", str(sweep), "--cores", "4", "--memory", "8GiB", "--tasks", "0"),
                          "--tasks must be at least 1")



def test_a_killed_study_leaves_no_scheduler_or_worker_behind(tmp_path: Path) -> None:
    # kill -9 (a CI time limit, the OOM killer): its dask scheduler and workers go with it
    study = subprocess.Popen([MEMREPLAY, "scheduler", "--transitions", "50000", "--results", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        children: list[psutil.Process] = []
        while time.monotonic() < deadline and len(children) < 5:  # a scheduler, 2 nannies and their workers
            children = psutil.Process(study.pid).children(recursive=True)
            time.sleep(0.2)
        assert len(children) >= 5, "the study did not start its scheduler and workers"
    finally:
        study.kill()
        study.wait()
    gone, alive = psutil.wait_procs(children, timeout=60)  # a nanny closes its worker first: seconds, more when loaded
    assert not alive, alive
