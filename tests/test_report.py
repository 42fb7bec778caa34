"""The HTML report and ``memreplay compare``, for real: two real sweeps (an A/A pair) of word
count, a task whose key is an HTML injection, and a workload that runs out of memory; the
reports opened in headless Chromium (Debian's package) with every request off loopback
blocked. Set $MEMREPLAY_REPORT_SCREENSHOT to a path to keep a screenshot of the sweep report
(`nox -s docs` writes docs/report.png this way)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import msgspec
import pytest

from memreplay.records.schema import SweepRecord
from memreplay.records.store import load_record
from tests.helpers.browser import PLOTS_DRAWN, offline_page, opened_report, served
from tests.helpers.cli import TEST_SCALE, Result, assert_one_line_error, needs_clear_refs
from tests.helpers.sweep_workloads import HOSTILE_KEY

pytestmark = needs_clear_refs

MATRIX = f"""
[matrix]
workloads = ["wordcount-naive", "tests.helpers.sweep_workloads:hostile_key", "tests.helpers.sweep_workloads:hog"]
shapes = [[1, 1], [2, 1]]
memory_limits = ["1GiB"]
scale = {TEST_SCALE}
timeout_s = 120
fil_profiles = {{profiles}}
size_ladder = false
"""
MIB = 2**20


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, corpus_cache: Path) -> dict[str, Result]:
    """Two sweeps of one matrix (an A/A pair; the first with Fil profiles)."""
    from tests.helpers.cli import memreplay

    base = tmp_path_factory.mktemp("report")
    done = {}
    for name, profiles in (("a", "true"), ("a-again", "false")):
        matrix = base / f"{name}.toml"
        matrix.write_text(MATRIX.format(profiles=profiles))
        done[name] = memreplay("sweep", str(matrix), "--results", str(base / "results"), "--corpora",
                               str(corpus_cache), timeout=600)
        assert done[name].returncode == 0, done[name].stdout[-2000:] + done[name].stderr[-2000:]
    return done


def _run_directory(result: Result) -> Path:
    return Path(result.record_path).parent


@pytest.mark.slow
def test_every_sweep_writes_its_report_and_says_where(runs: dict[str, Result]) -> None:
    for result in runs.values():
        report = Path(result.report_path)
        assert report == _run_directory(result) / "report.html" and report.exists()
        assert result.stdout.strip().splitlines()[-1] == f"report: {report}"  # the last thing printed
        page = report.read_text()
        assert "<script src=" not in page and "<link " not in page  # nothing fetched: all inline
        assert report.stat().st_size < 3 * MIB


@pytest.mark.slow
def test_the_report_renders_offline_with_every_plot_drawn(runs: dict[str, Result], tmp_path: Path) -> None:
    run = _run_directory(runs["a"])
    with served(run) as url, offline_page(url) as seen:
        seen.page.goto(f"{url}report.html")
        seen.page.wait_for_function("document.querySelectorAll('[data-root-id]').length > 0 && "
                                    "window.Bokeh !== undefined", timeout=20_000)
        seen.page.wait_for_timeout(1500)
        drawn = seen.page.evaluate(PLOTS_DRAWN)
        headings = seen.page.locator("section h2").all_inner_texts()
        text = seen.page.locator("body").inner_text()
        injected = seen.page.locator("img[src='x']").count()
        keys = seen.page.evaluate("""() => Bokeh.documents.flatMap(d => [...d.all_models]
            .filter(m => m.data && m.data.key).flatMap(m => [...m.data.key]))""")
        tooltips = seen.page.evaluate("""() => Bokeh.documents.flatMap(d => [...d.all_models]
            .filter(m => m.type === 'HoverTool' || (m.tooltips && Array.isArray(m.tooltips)))
            .map(m => m.tooltips.map(t => t[0]).join(',')))""")
        screenshot = os.environ.get("MEMREPLAY_REPORT_SCREENSHOT")
        seen.page.screenshot(path=screenshot or str(tmp_path / "report.png"), full_page=not screenshot)
    assert seen.errors == [] and seen.blocked == [] and seen.dialogs == []
    # heat maps (3), distributions (3 workloads), the model, timelines (6 cases): all drawn
    assert len(drawn) >= 12 and min(drawn) > 500, drawn
    assert headings[0] == "The answer"
    for section in ("Configurations", "Peak increase per task", "Recommendation", "Fil profiles of the hungriest "
                    "tasks", "Memory timelines", "Cases", "Environment and settings"):
        assert section in headings, headings
    # the hostile key is text on the page and data in the plots, never markup
    assert HOSTILE_KEY in text and injected == 0
    assert HOSTILE_KEY in keys
    assert any(t.startswith("task,prefix,peak increase,input,worker") for t in tooltips), tooltips
    assert "2 out of memory" in text and "\toom\t" in text  # counted in the answer, listed in the cases
    assert "Fil's peak of tracked allocations" in text


@pytest.mark.slow
def test_report_command_advises_for_a_given_machine(runs: dict[str, Result], cli) -> None:
    run = _run_directory(runs["a-again"])
    done = cli("report", str(run), "--cores", "16", "--memory", "64GiB")
    assert done.returncode == 0 and done.report_path == str(run / "report.html")
    page = (run / "report.html").read_text()
    assert "16 cores and 64.00 GiB" in page and "the machine this ran on" not in page


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["--cores", "4"], "give --cores and --memory together"),
    (["--cores", "0", "--memory", "4GiB"], "--cores must be at least 1"),
    (["--cores", "4", "--memory", "lots"], "--memory: 'lots' is not a size"),
])
def test_report_refusals_are_one_line(cli, runs: dict[str, Result], args: list[str], message: str) -> None:
    assert_one_line_error(cli("report", str(_run_directory(runs["a"])), *args), message)


def test_report_of_a_missing_or_damaged_run_is_one_line(cli, tmp_path: Path) -> None:
    assert_one_line_error(cli("report", str(tmp_path / "nothing")), "cannot read run record")
    (tmp_path / "run.json").write_text('{"schema_version": 3, "kind": "sweep"')
    assert_one_line_error(cli("report", str(tmp_path)), "not valid JSON")


@pytest.mark.slow
def test_compare_passes_an_a_a_pair(cli, runs: dict[str, Result], tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    done = cli("compare", runs["a"].record_path, runs["a-again"].record_path, "--markdown", str(summary))
    assert done.returncode == 0, done.stdout
    assert "memory comparison: passed" in done.stdout
    assert summary.read_text().startswith("### memreplay compare: ✅ no memory regression")
    assert Path(done.report_path).exists()


def _inject(run: Path, into: Path, workload: str, factor: float) -> Path:
    """A copy of ``run`` whose ``workload`` cases needed ``factor`` times the memory per task."""
    shutil.copytree(run, into)
    record = load_record(into, SweepRecord)
    for case in record.cases:
        if case.workload.name == workload and case.task_memory is not None:
            for summary in case.task_memory.by_prefix.values():
                for field in ("peak_increase_max_bytes", "peak_increase_max_alone_bytes"):
                    if (value := getattr(summary, field)) is not None:
                        setattr(summary, field, int(value * factor))
    (into / "run.json").write_bytes(msgspec.json.encode(record))
    return into


@pytest.mark.slow
def test_compare_catches_an_injected_20_percent_regression(cli, runs: dict[str, Result], tmp_path: Path) -> None:
    head = _inject(_run_directory(runs["a-again"]), tmp_path / "head", "tests.helpers.sweep_workloads:hostile_key", 1.2)
    page = tmp_path / "compare.html"
    done = cli("compare", runs["a"].record_path, str(head), "--output", str(page),
               "--markdown", str(tmp_path / "summary.md"))
    assert done.returncode == 1, done.stdout
    # a table wider than the terminal is set out one block per row: a row is a line, or a block
    rows = done.stdout.split("\n\n") if "\nworkload: " in done.stdout else done.stdout.splitlines()
    flagged = [row for row in rows if "REGRESSED" in row and "hostile_key" in row]
    assert len(flagged) == 2  # 1x1 and 2x1
    assert not [row for row in rows if "wordcount-naive" in row and "REGRESSED" in row]
    assert "❌ memory regressed" in (tmp_path / "summary.md").read_text()
    # with a threshold above the injection it passes: the verdict is the rule's, not noise
    assert cli("compare", runs["a"].record_path, str(head), "--threshold", "30",
               "--output", str(tmp_path / "again.html")).returncode == 0
    with opened_report(page) as seen:
        drawn = seen.page.evaluate(PLOTS_DRAWN)
        answer = seen.page.locator("section").first.inner_text()
    assert seen.errors == [] and seen.blocked == [] and seen.dialogs == []
    assert drawn and min(drawn) > 500
    assert answer.startswith("The answer") and "Memory regressed." in answer and "hostile_key" in answer


@pytest.mark.slow
def test_compare_calls_out_an_outcome_change_first(cli, runs: dict[str, Result], tmp_path: Path) -> None:
    head = tmp_path / "head"
    shutil.copytree(_run_directory(runs["a-again"]), head)
    record = load_record(head, SweepRecord)
    case = next(c for c in record.cases if c.workload.name == "wordcount-naive")
    case.outcome, case.error = "oom", "worker killed at 95 % of its memory limit"
    record.environment.dask = "1999.1.0"
    (head / "run.json").write_bytes(msgspec.json.encode(record))
    done = cli("compare", runs["a"].record_path, str(head))
    assert done.returncode == 1
    lines = [line for line in done.stdout.splitlines() if line]
    assert lines[2] == f"wordcount-naive {case.config.label}: ok → oom (REGRESSED)"  # after BASE and HEAD
    assert any(line.startswith("environment differs: dask") and "1999.1.0" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["--threshold", "nan"], "--threshold must be a positive percentage"),
    (["--floor", "lots"], "--floor: 'lots' is not a size"),
    (["--noise", "/nonexistent/run"], "cannot read run record"),
    (["--markdown", "/nonexistent/dir/summary.md"], "--markdown /nonexistent/dir/summary.md: cannot write"),
])
def test_compare_refusals_are_one_line(cli, runs: dict[str, Result], args: list[str], message: str) -> None:
    result = cli("compare", runs["a"].record_path, runs["a-again"].record_path, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr


@pytest.mark.slow
def test_compare_refuses_runs_of_different_scales_and_kinds(cli, runs: dict[str, Result], tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(_run_directory(runs["a-again"]), other)
    record = load_record(other, SweepRecord)
    record.settings.matrix.scale = 1.0
    (other / "run.json").write_bytes(msgspec.json.encode(record))
    assert_one_line_error(cli("compare", runs["a"].record_path, str(other)), "scale", "not comparable")


@pytest.mark.slow
def test_a_renamed_run_reports_from_its_own_files(cli, runs: dict[str, Result], tmp_path: Path) -> None:
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(_run_directory(runs["a"]), copy)
    case = next(p for p in (copy / "cases").iterdir() if (p / "timeline.csv").exists())
    (case / "timeline.csv").write_text("time_s,process,rss_bytes\n0.05,worker,lots\n")
    # the damaged file is the copy's, not the original's: the copy is what was read
    assert_one_line_error(cli("report", str(copy)), str(case / "timeline.csv"), "not a memreplay timeline.csv")
    (case / "timeline.csv").unlink()
    (case / "tasks.csv").write_text("task_key,min_memory_mb\n")
    assert_one_line_error(cli("report", str(copy)), str(case / "tasks.csv"), "not a memreplay tasks.csv")
    (case / "tasks.csv").unlink()  # a run copied in part: said, not a silent gap in the page
    assert_one_line_error(cli("report", str(copy)), str(case / "tasks.csv"), "missing, though the record")


def _scaled(record: SweepRecord, workload: str, add_bytes: int, repeat: int | None = None) -> list:
    """Copies of ``workload``'s cases whose largest task needed ``add_bytes`` more."""
    copies = []
    for case in record.cases:
        if case.workload.name == workload and case.task_memory is not None:
            copy = msgspec.json.decode(msgspec.json.encode(case), type=type(case))
            for summary in copy.task_memory.by_prefix.values():
                for field in ("peak_increase_max_bytes", "peak_increase_max_alone_bytes"):
                    if getattr(summary, field) is not None:
                        setattr(summary, field, getattr(summary, field) + add_bytes)
            if repeat is not None:
                copy.repeat, copy.id = repeat, copy.id.replace("-r0", f"-r{repeat}")
            copies.append(copy)
    return copies


@pytest.mark.slow
def test_compare_sets_changes_against_the_spread_of_repeats(runs: dict[str, Result]) -> None:
    from memreplay.analysis.compare import compare_runs
    from memreplay.analysis.regression import GateRule

    workload = "tests.helpers.sweep_workloads:hostile_key"
    rule = GateRule(threshold=0.10, floor=2 * MIB)
    base = load_record(runs["a"].record_path, SweepRecord)
    head = load_record(runs["a"].record_path, SweepRecord)
    head.cases = [c for c in head.cases if c.workload.name != workload] + _scaled(head, workload, 6 * MIB)
    # +6 MiB on a 40 MiB task: beyond 10 % and 2 MiB, so regressed without repeats...
    assert compare_runs(base, head, rule).regressed
    # ...but within the noise when BASE's own repeats of the case lie 8 MiB apart
    base.cases += _scaled(base, workload, 8 * MIB, repeat=1)
    base.settings.matrix.repeats = 2
    comparison = compare_runs(base, head, rule)
    assert not comparison.regressed and "the spread of 2 repeats" in comparison.noise_source
    case = next(c for c in comparison.cases if c.key[0] == workload)
    assert case.floors["largest_peak_increase_bytes"] == 8 * MIB
    # an A/A run of BASE that lay 8 MiB away sets the same floor
    base = load_record(runs["a"].record_path, SweepRecord)
    again = load_record(runs["a"].record_path, SweepRecord)
    again.cases = [c for c in again.cases if c.workload.name != workload] + _scaled(again, workload, 8 * MIB)
    assert not compare_runs(base, head, rule, aa=again).regressed


@pytest.mark.slow
def test_overlap_dependent_figures_gate_only_against_measured_noise(runs: dict[str, Result]) -> None:
    """With two threads per worker, the largest task and the worker peak move with how tasks
    overlapped: without repeats or an A/A run they are shown, not gated."""
    from memreplay.analysis.compare import FIGURES, compare_runs
    from memreplay.analysis.regression import GateRule
    from memreplay.plan.cluster_config import ClusterConfig

    workload = "tests.helpers.sweep_workloads:hostile_key"
    rule = GateRule(threshold=0.10, floor=2 * MIB)

    def two_threads(record: SweepRecord) -> SweepRecord:
        for case in record.cases:
            c = case.config
            case.config = ClusterConfig(c.n_workers, 2, c.memory_limit, c.processes)
        return record

    base = two_threads(load_record(runs["a"].record_path, SweepRecord))
    head = two_threads(load_record(runs["a"].record_path, SweepRecord))
    head.cases = [c for c in head.cases if c.workload.name != workload] + _scaled(head, workload, 12 * MIB)
    comparison = compare_runs(base, head, rule)
    assert not comparison.regressed
    case = next(c for c in comparison.cases if c.key[0] == workload)
    figure = next(f for f in FIGURES if f.name == "largest_peak_increase_bytes")
    assert case.figures[figure.name].verdict == "regressed" and not case.regressed(figure)  # shown, not gated
    # an A/A run that measured the noise (here: none) makes them gate again
    assert compare_runs(base, head, rule, aa=two_threads(load_record(runs["a"].record_path, SweepRecord))).regressed
