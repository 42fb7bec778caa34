"""``memreplay plan``: the rollout plan from a stored sweep (tests/data, copied: the plan is saved
beside the run) and a catalog. In process, no cluster; the plan followed on a real cluster is in
tests/test_advice.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest

from memreplay.analysis.rollout import makespan
from memreplay.cli import build_parser
from memreplay.kinds.plan import load_plan, make_plan
from memreplay.plan.matrix import load_matrix
from tests.helpers.browser import opened_report

DATA = Path(__file__).parent / "data" / "schema8" / "sweep"
WORDS = "wordcount-naive"
SPILLS = "tests.helpers.sweep_workloads:spills"
REPLAY = "replay:trace.json"
CATALOG = """
[catalog]
currency = "EUR"
prices_taken = 2026-11-30
note = "test prices"

[[machine]]
name = "small"
cores = 2
memory = "1GiB"
price_per_hour = 0.1

[[machine]]
name = "large"
cores = 4
memory = "4GiB"
price_per_hour = 0.3

[[machine]]
name = "tiny"
cores = 8
memory = "300MiB"
price_per_hour = 0.01
"""


@pytest.fixture
def run(tmp_path: Path) -> Path:
    copied = tmp_path / "sweep"
    shutil.copytree(DATA, copied)
    return copied


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    path = tmp_path / "machines.toml"
    path.write_text(CATALOG)
    return path


def _plan(cli, run: Path, catalog: Path, *options: str, code: int | None = None) -> dict:
    """The plan as --json gives it: computed in process (no report written), or with ``code``
    through the command line, its exit code checked."""
    if code is None:
        args = build_parser().parse_args(["plan", str(run), "--machines", str(catalog), *options])
        return msgspec.to_builtins(make_plan(args)[2])
    result = cli("plan", str(run), "--machines", str(catalog), *options, "--json")
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout)


def test_list_scheduling_puts_each_task_on_the_next_free_slot() -> None:
    assert makespan([3, 3, 2, 2, 2], 2) == 7  # 3+2+2 on one slot, 3+2 on the other
    assert makespan([1.0] * 10, 4) == 3.0  # whole waves
    assert makespan([5, 1, 1, 1], 8) == 5  # more slots than tasks: the longest
    assert makespan([], 3) == 0


def test_machine_types_are_ranked_by_cost_and_the_cheapest_that_fits_is_chosen(cli, run: Path, catalog: Path) -> None:
    plan = _plan(cli, run, catalog, "--input", "3x", "--workload", WORDS)
    words = plan["workloads"][WORDS]
    machines = {m["machine"]: m for m in words["machines"]}
    fitting = [m for m in words["machines"] if m["fits"]]
    assert [m["rank"] for m in fitting] == list(range(1, len(fitting) + 1))
    assert [m["cost"] for m in fitting] == sorted(m["cost"] for m in fitting)
    assert words["chosen"] == fitting[0]["machine"] and fitting[0]["pareto"]
    # 300 MiB is less than one worker running one task needs: said, not planned
    assert not machines["tiny"]["fits"] and machines["tiny"]["reason"].startswith("one worker running one task needs")
    for machine in fitting:
        assert machine["tasks_at_once"] == machine["n_workers"] * machine["threads_per_worker"] <= machine["cores"]
        assert machine["idle_core_share"] == pytest.approx(1 - machine["tasks_at_once"] / machine["cores"])
        low, high = machine["total_time_range_s"]
        assert low <= machine["total_time_s"] <= high
        assert machine["cost"] == pytest.approx(machine["total_time_s"] * machine["price_per_hour"] / 3600)
    # the swept tasks grew 3×: the ladder's line sizes them, and the plan says so
    assert words["scale_factor"] == 3 and any("the size ladder's line" in line for line in words["modelled"])
    assert any("embarrassingly parallel" in line for line in words["modelled"])


def test_a_deadline_buys_machines_and_a_deadline_no_number_meets_is_said(cli, run: Path, catalog: Path) -> None:
    alone = _plan(cli, run, catalog, "--input", "20x", "--workload", SPILLS)["workloads"][SPILLS]
    small = next(m for m in alone["machines"] if m["machine"] == "small")
    assert small["machines"] == 1
    deadline = small["total_time_s"] / 3
    hurried = _plan(cli, run, catalog, "--input", "20x", "--workload", SPILLS, "--deadline", f"{deadline:.3f}")
    fast = next(m for m in hurried["workloads"][SPILLS]["machines"] if m["machine"] == "small")
    assert fast["machines"] >= 3 and fast["total_time_s"] <= deadline
    # no machine type fits: the plan says why, and exits 1 as the table does
    impossible = _plan(cli, run, catalog, "--input", "20x", "--workload", SPILLS, "--deadline", "0.001", code=1)
    for machine in impossible["workloads"][SPILLS]["machines"]:
        assert not machine["fits"]
    assert impossible["workloads"][SPILLS]["chosen"] is None


def test_workers_that_would_spill_more_than_their_disks_hold_are_spread_over_more_machines(
        cli, run: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "disk.toml"
    machine = '[[machine]]\nname = "small"\ncores = 2\nmemory = "1GiB"\nprice_per_hour = 0.1\n'
    catalog.write_text(machine)
    (roomy,) = _plan(cli, run, catalog, "--input", "3x", "--workload", SPILLS)["workloads"][SPILLS]["machines"]
    assert roomy["machines"] == 1 and roomy["spilled_per_worker_bytes"] > 100 * 2**20 and roomy["note"] is None
    catalog.write_text(machine + 'disk_per_worker = "100MiB"\n')
    (small,) = _plan(cli, run, catalog, "--input", "3x", "--workload", SPILLS)["workloads"][SPILLS]["machines"]
    assert small["fits"] and small["machines"] > 1 and small["spilled_per_worker_bytes"] <= 100 * 2**20
    assert "on fewer, each worker spills more results than its 100.00 MiB of disk holds" in small["note"]


def test_a_replayed_trace_is_planned_from_its_recorded_durations(cli, run: Path, catalog: Path) -> None:
    refused = _plan(cli, run, catalog, "--input", "1GiB", "--workload", REPLAY, code=1)["workloads"][REPLAY]
    assert refused["reason"].startswith("a replayed trace's input size is not known") and not refused["machines"]
    replay = _plan(cli, run, catalog, "--input", "4x", "--workload", REPLAY)["workloads"][REPLAY]
    assert replay["prefix"] is None and any("the recorded durations" in line for line in replay["measured"])
    assert any("run 4 times over" in line for line in replay["modelled"])


def test_the_terminal_the_saved_plan_the_matrix_and_the_report(cli, run: Path, catalog: Path, tmp_path: Path) -> None:
    result = cli("plan", str(run), "--machines", str(catalog), "--input", "3x", "--workload", WORDS)
    assert result.returncode == 0, result.stderr
    assert "Rollout plan" in result.stdout and "rank" in result.stdout and "EUR/h" in result.stdout
    assert "tiny does not fit: one worker running one task needs" in result.stdout
    assert all(len(line) <= 120 for line in result.stdout.splitlines() if not line.startswith(("plan:", "report:")))
    saved = load_plan(run)
    assert not isinstance(saved, str) and saved is not None and saved.workloads[WORDS].chosen == "small"
    matrix = load_matrix(run / "plan-wordcount-naive.toml")
    (case,) = matrix.cases
    chosen = next(m for m in saved.workloads[WORDS].machines if m.machine == "small")
    assert (case.workload.name, case.config.n_workers, case.config.threads_per_worker) == (
        WORDS, chosen.n_workers, chosen.threads_per_worker)
    assert case.config.memory_limit == chosen.memory_limit_bytes
    with opened_report(Path(result.report_path)) as seen:
        headings = seen.page.locator("section h2").all_inner_texts()
        legends = seen.page.evaluate("""() => Bokeh.documents.flatMap(d => [...d.all_models]
            .filter(m => m.type === 'LegendItem').map(m => m.label.value))""")
        seen.page.locator("section", has_text="Rollout plan").first.screenshot(path=str(tmp_path / "plan.png"))
    assert seen.errors == [] and seen.blocked == []
    assert "Rollout plan" in headings, headings
    assert {"the plan: cheapest that fits", "machine type (dark: on the Pareto front)"} <= set(legends), legends


@pytest.mark.parametrize(("options", "message"), [
    (("--input", "lots"), "--input: 'lots' is not a size"),
    (("--input", "nanx"), "--input: the multiple must be a finite number greater than 0"),
    (("--input=-2x",), "--input: the multiple must be a finite number greater than 0"),
    (("--input", "0"), "--input: must be greater than 0"),
    (("--input", "2x", "--task-size", "0B"), "--task-size: must be greater than 0"),
    (("--input", "2x", "--deadline", "soon"), "--deadline: 'soon' is not a duration"),
    (("--input", "2x", "--deadline=-1h"), "--deadline: '-1h' is not a duration"),
    (("--input", "2x", "--margin", "1.5"), "--margin must be in [0, 1)"),
    (("--input", "2x", "--workload", "nope"), "--workload nope: not in this run"),
])
def test_bad_options_are_one_line_and_nothing_is_written(cli, run: Path, catalog: Path, options: tuple[str, ...],
                                                         message: str) -> None:
    result = cli("plan", str(run), "--machines", str(catalog), *options)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (run / "plan.json").exists()


def test_a_bad_catalog_or_run_is_one_line(cli, run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[machine]]\nname = "x"\ncores = 0\nmemory = "4GiB"\nprice_per_hour = 1\n')
    for arguments, message in (((str(run), "--machines", str(bad)), f"{bad}: machine 'x' cores"),
                               ((str(run), "--machines", str(tmp_path / "missing.toml")), "missing.toml"),
                               ((str(tmp_path / "no-run"), "--machines", "example"), "no-run")):
        result = cli("plan", *arguments, "--input", "2x")
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (run / "plan.json").exists()


def test_without_a_size_ladder_task_sizes_cannot_be_chosen(cli, run: Path, catalog: Path) -> None:
    plan = _plan(cli, run, catalog, "--input", "1GiB", "--task-size", "1MiB", "--workload", SPILLS, code=1)
    assert plan["workloads"][SPILLS]["reason"].startswith("no size ladder to size tasks of --task-size with")
    words = _plan(cli, run, catalog, "--input", "64MiB", "--task-size", "1MiB", "--workload", WORDS)["workloads"][WORDS]
    assert words["tasks"] == 64 and words["largest_task_input_bytes"] == 2**20


def test_a_million_tasks_of_one_size_are_planned_at_once_and_small_ones_take_time(cli, run: Path,
                                                                                  catalog: Path) -> None:
    import time

    started = time.perf_counter()
    many = _plan(cli, run, catalog, "--input", "80GiB", "--task-size", "8KiB", "--deadline", "1h",
                 "--workload", WORDS)["workloads"][WORDS]
    assert time.perf_counter() - started < 10  # one group of ten million tasks, in closed form
    assert many["tasks"] == 10 * 2**20 and many["largest_task_input_bytes"] == 8 * 2**10
    small = next(m for m in many["machines"] if m["machine"] == "small")
    assert small["time_per_task_s"] > 0 and small["cost"] > 0  # below the ladder's smallest input: in proportion
    assert small["total_time_range_s"][1] <= 3600  # the deadline met at the slow end of the range
    assert any("smaller than the ladder's smallest input" in line for line in many["modelled"])
    # the last task holds what is left of the input
    cut = _plan(cli, run, catalog, "--input", "2.5MiB", "--task-size", "1MiB", "--workload", WORDS)
    assert cut["workloads"][WORDS]["tasks"] == 3
    assert cut["workloads"][WORDS]["task_input_bytes_total"] == int(2.5 * 2**20)


def test_without_a_ladder_a_fraction_of_the_graph_runs_a_fraction_of_its_tasks(cli, run: Path,
                                                                              catalog: Path) -> None:
    once = _plan(cli, run, catalog, "--input", "1x", "--workload", SPILLS)["workloads"][SPILLS]
    half = _plan(cli, run, catalog, "--input", "1.5x", "--workload", SPILLS)["workloads"][SPILLS]
    assert half["tasks"] == round(1.5 * once["tasks"])
