"""Dask's memory manager in every case: memory presets refused in one line before anything
starts; pauses, borderline cases, spilling advice and the comparison of spill figures on
records built here; and on real clusters, the spilled bytes of a hand-computed case, read
against distributed's own counters, and a sweep over memory_thresholds = ["default",
"no-spill"] as a user sees it: the record, the terminal, compare and the report in Chromium."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from memreplay.analysis.compare import compare_runs
from memreplay.analysis.recommend import recommend
from memreplay.analysis.regression import GateRule
from memreplay.errors import UserError
from memreplay.execute.outcomes import kill_margin_percent
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.cluster_source import ClusterSource, check_configs
from memreplay.plan.matrix import load_matrix
from memreplay.plan.memory_thresholds import installed_thresholds, load_thresholds, memory_thresholds
from memreplay.probes.memory_manager import MemoryManagerProbe, paused_spans, summarise_worker
from memreplay.records.schema import MemoryManager, SpilledBytes, Timeline, WorkerMemory
from memreplay.records.timeline_samples import TimelineRow, read_timeline, write_timeline
from tests.helpers.cli import TEST_SCALE, assert_one_line_error, write_matrix
from tests.test_analysis import GIB, MIB, _case, _sweep

# --- memory presets ---------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "fragments"), [
    ("[memory]\ntarget = 1.5\n", ["memory.target", "above 0 and at most 1"]),
    ("[memory]\nspill = 0\n", ["memory.spill", "above 0 and at most 1"]),
    ("[memory]\npause = \"high\"\n", ["memory.pause", "'high'"]),
    ("[memory]\nterminate = nan\n", ["memory.terminate", "nan"]),
    ("[memory]\ntarget = true\n", ["memory.target", "or false (off), got True"]),
    ("[memory]\ntargets = 0.5\n", ["memory.targets", "unknown key (known: target, spill"]),
    ("[memory]\nspill-compression = \"gzip\"\n", ["memory.spill-compression", "zlib"]),
    ("[memory]\nmax-spill = \"lots\"\n", ["memory.max-spill", "not a size"]),
    ("[memory]\nmax-spill = -1\n", ["memory.max-spill", "more than 0 bytes"]),
    ("[memory]\npause = 0.97\n", ["memory.pause", "not below terminate (0.95)"]),
    ("[scheduler]\nx = 1\n", ["scheduler: unknown table (known: memory)"]),
    ("[memory\n", ["not valid TOML"]),
])
def test_a_bad_memory_preset_is_one_line_naming_its_file_and_key(tmp_path, body: str, fragments: list[str]) -> None:
    preset = tmp_path / "bad.toml"
    preset.write_text(body)
    with pytest.raises(UserError) as refused:
        load_thresholds(preset)
    message = str(refused.value)
    assert "\n" not in message and str(preset) in message
    for fragment in fragments:
        assert fragment in message, message


def test_the_shipped_presets_load_and_say_what_they_change(tmp_path) -> None:
    shipped = {name: memory_thresholds(name, tmp_path, "test") for name in
               ("default", "no-spill", "early-spill", "no-pause", "spill-compression")}
    assert shipped["default"].settings == {} and installed_thresholds()["target"] == 0.6
    assert shipped["no-spill"].config == {"distributed.worker.memory.target": False,
                                          "distributed.worker.memory.spill": False}
    assert shipped["no-pause"].settings == {"pause": False} and shipped["early-spill"].settings["target"] == 0.4
    assert shipped["spill-compression"].settings == {"spill-compression": "zlib"}
    with pytest.raises(UserError, match="no preset 'nope' \\(memreplay ships default, early-spill, no-pause"):
        memory_thresholds("nope", tmp_path, "matrix.memory_thresholds")


def test_memory_thresholds_are_an_axis_whose_presets_go_into_case_ids(tmp_path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "tight.toml").write_text("[memory]\ntarget = 0.3\nspill = false\n")
    matrix = load_matrix(write_matrix(tmp_path, "[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\n"
                                                "memory_limits = ['1GiB']\nmemory_thresholds = ['default', 'no-spill', "
                                                "'tight']\n"))
    assert [case.id for case in matrix.cases] == ["wordcount-naive-1x1-1GiB-r0", "wordcount-naive-1x1-1GiB-no-spill-r0",
                                                  "wordcount-naive-1x1-1GiB-tight-r0"]
    assert matrix.cases[2].memory.settings == {"target": 0.3, "spill": False}
    for body, fragments in [
        ("memory_thresholds = ['no-spill', 'no-spill']\n", ["matrix.memory_thresholds", "appears twice"]),
        ("memory_thresholds = ['nope']\n", ["matrix.memory_thresholds", "no preset 'nope'"]),
        ("memory_thresholds = 'no-spill'\n", ["matrix.memory_thresholds", "must be a list"]),
        ("memory_thresholds = [0.5]\n", ["matrix.memory_thresholds", "a name such as"]),
    ]:
        path = write_matrix(tmp_path, "[matrix]\nworkloads = ['wordcount-naive']\nshapes = [[1, 1]]\n"
                                      "memory_limits = ['1GiB']\n" + body, name="bad.toml")
        with pytest.raises(UserError) as refused:
            load_matrix(path)
        assert "\n" not in str(refused.value) and all(f in str(refused.value) for f in fragments), refused.value


def test_a_memory_preset_needs_memreplays_own_workers() -> None:
    config = ClusterConfig(1, 1, GIB, memory_thresholds="no-spill")
    with pytest.raises(UserError, match="memory preset 'no-spill' needs memreplay's own workers"):
        check_configs(ClusterSource(kind="running", address="tcp://127.0.0.1:1"), [config], "--scheduler")
    check_configs(ClusterSource(), [config], "matrix")  # memreplay's own: fine


def test_the_cli_refuses_a_bad_preset_before_any_worker_starts(cli, tmp_path) -> None:
    (tmp_path / "bad.toml").write_text("[memory]\ntarget = 2\n")
    done = cli("run", "wordcount-naive", "--memory-thresholds", str(tmp_path / "bad.toml"),
               "--results", str(tmp_path / "results"))
    assert_one_line_error(done, "--memory-thresholds", "memory.target", "got 2")
    assert not (tmp_path / "results" / "runs").exists() or not any((tmp_path / "results" / "runs").iterdir())


# --- what the records say -------------------------------------------------------------------


def test_paused_spans_close_on_resume_on_leaving_and_at_the_end() -> None:
    events = [(1.0, "worker-status-change", "paused"), (2.5, "worker-status-change", "running"),
              (3.0, "worker-status-change", "paused"), (4.0, "worker-restart-memory", None),
              (6.0, "worker-status-change", "paused")]
    assert paused_spans(events, end=9.0) == [(1.0, 2.5), (3.0, 4.0), (6.0, 9.0)]
    assert paused_spans([], end=9.0) == []


def test_a_workers_figures_come_from_its_samples_counters_and_events() -> None:
    samples = [TimelineRow(0.0, "w", 200 * MIB, 50 * MIB, 0, 0, False),
               TimelineRow(0.1, "w", 700 * MIB, 400 * MIB, 300 * MIB, 100 * MIB, True),
               TimelineRow(0.2, "w", 600 * MIB, 300 * MIB, 200 * MIB, 80 * MIB, False)]
    start = {"settings": {"target": 0.6}, "spilling": True, "spilled": (0, 0), "managed": 0,
             "metrics": {"disk-write/bytes": 10.0}}
    end = {"settings": {"target": 0.6}, "spilling": True, "spilled": (5, 4), "managed": 0,
           "metrics": {"disk-write/bytes": 110.0, "disk-write/count": 3, "disk-write/seconds": 0.5,
                       "serialize/seconds": 0.25, "disk-read/seconds": 0.125, "deserialize/seconds": 0.125}}
    worker = summarise_worker("w", samples, start, end, [(100.5, "worker-status-change", "paused"),
                                                         (101.0, "worker-status-change", "running")], 100.0, 103.0)
    assert (worker.peak_rss_bytes, worker.managed_at_peak_bytes, worker.unmanaged_at_peak_bytes) == (
        700 * MIB, 400 * MIB, 300 * MIB)
    assert worker.spilled_peak == SpilledBytes(memory=300 * MIB, disk=100 * MIB) and worker.spilled_end.memory == 5
    assert worker.held_peak_bytes == 700 * MIB  # managed + spilled, at its largest
    assert (worker.disk_write_bytes, worker.disk_write_count) == (100, 3)  # the case's: end minus start
    assert (worker.spill_s, worker.unspill_s) == (0.75, 0.25)
    assert (worker.paused_s, worker.pauses) == (0.5, 1) and worker.events[0].time_s == 0.5
    gone = summarise_worker("w", samples, start, None, [], 100.0, 103.0)
    assert gone.spilled_end is None and gone.disk_write_bytes is None and gone.spilled_peak is not None


def test_a_timeline_written_before_schema_7_is_read_without_the_memory_managers_columns(tmp_path) -> None:
    old = tmp_path / "old.csv"
    old.write_text("time_s,process,rss_bytes\n0.050,scheduler,1000\n0.100,tcp://w,2000\n")
    assert read_timeline(old) == [TimelineRow(0.05, "scheduler", 1000), TimelineRow(0.1, "tcp://w", 2000)]
    new = tmp_path / "new.csv"
    rows = [TimelineRow(0.05, "scheduler", 1000), TimelineRow(0.1, "tcp://w", 2000, 500, 300, 100, True)]
    write_timeline(new, rows)
    assert read_timeline(new) == rows and rows[1].unmanaged_bytes == 1500


def _memory(spilled: int = 0, paused: float = 0.0, held: int | None = None, terminate: float = 0.95) -> MemoryManager:
    return MemoryManager(thresholds="default", workers=[WorkerMemory(
        worker="w", settings={"target": 0.6, "spill": 0.7, "terminate": terminate}, spilling=True, peak_rss_bytes=None,
        managed_at_peak_bytes=None, unmanaged_at_peak_bytes=None,
        spilled_peak=SpilledBytes(memory=spilled, disk=spilled), spilled_end=SpilledBytes(memory=0, disk=0),
        held_peak_bytes=held, disk_write_bytes=spilled, paused_s=paused, pauses=int(paused > 0))])


def test_the_kill_margin_is_the_largest_workers_distance_below_its_nannys_line() -> None:
    timeline = Timeline(csv="t.csv", png=None, samples=2, processes=["scheduler", "a", "b"],
                        peak_rss_bytes={"scheduler": 5 * GIB, "a": int(0.9 * GIB), "b": int(0.92 * GIB)})
    assert kill_margin_percent(timeline, _memory(), GIB) == pytest.approx(100 * (0.95 - 0.92) / 0.95)
    assert kill_margin_percent(timeline, _memory(terminate=0.5), GIB) < 0  # above a lower line
    assert kill_margin_percent(None, _memory(), GIB) is None


def test_an_ok_to_oom_flip_of_a_borderline_case_is_noise_unless_repeats_show_it() -> None:
    base = _sweep(msgspec.structs.replace(_case("w"), borderline=True, kill_margin_percent=2.0))
    head = _sweep(_case("w", outcome="oom"))
    flip = compare_runs(base, head, GateRule(0.1, 8 * MIB))
    assert flip.outcome_changes[0].noise and not flip.regressed and flip.cases[0].outcome_noise
    from memreplay.report.comparison_views import comparison_text

    assert "oom, borderline: noise" in comparison_text(flip, ("a", "b")) and "REGRESSED" not in comparison_text(
        flip, ("a", "b"))
    repeated = _sweep(_case("w", outcome="oom"), msgspec.structs.replace(_case("w", outcome="oom"), repeat=1))
    confirmed = compare_runs(base, repeated, GateRule(0.1, 8 * MIB))  # two repeats, both out of memory
    assert confirmed.regressed and not confirmed.cases[0].outcome_noise
    assert compare_runs(_sweep(_case("w")), head, GateRule(0.1, 8 * MIB)).regressed  # not borderline: a regression


def test_compare_gates_on_spilled_bytes_against_the_noise_floor_and_shows_paused_time() -> None:
    def run(spilled: int, paused: float):
        return _sweep(msgspec.structs.replace(_case("w"), memory_manager=_memory(spilled, paused)))

    worse = compare_runs(run(0, 0.0), run(400 * MIB, 3.0), GateRule(0.1, 8 * MIB))
    assert [(figure.name, c.head) for _, figure, c in worse.regressions] == [("spilled_bytes", 400 * MIB)]
    assert worse.cases[0].figures["paused_s"].head == 3.0  # shown, never gated
    within = compare_runs(run(0, 0.0), run(4 * MIB, 0.0), GateRule(0.1, 8 * MIB))
    assert not within.regressed  # below the byte floor


def test_recommend_prefers_a_shape_that_does_not_spill_and_names_the_slowdown_when_all_do() -> None:
    # the workload holds 3 GiB of results at once (measured); 1 GiB tasks, 100 MiB footprints
    spilling = msgspec.structs.replace(_case("spills", wall=30.0), memory_manager=_memory(GIB, held=3 * GIB))
    calm = msgspec.structs.replace(_case("calm", wall=10.0), memory_manager=_memory(0, held=3 * GIB))
    record = _sweep(spilling, calm)
    # 4 cores, 16 GiB: four 1x workers at 3.2 GiB would each hold 768 MiB, under 0.6 x 3.2 GiB
    roomy = recommend(record, cores=4, memory=16 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    assert roomy.spills is False and roomy.tasks_at_once == 4 and roomy.held_bytes == 3 * GIB
    tight = recommend(record, cores=4, memory=6 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    # 4 cores, 6 GiB: every shape that fits leaves a worker more results than its target
    tight = recommend(record, cores=4, memory=6 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    assert tight.spills is True and tight.tasks_at_once == 4
    assert "every shape that fits spills" in tight.spill_note
    assert "spilling took 3.00× the wall time of the same shape without (2x1-2GiB 30.0 s" in tight.spill_note
    # 4 cores, 10 GiB: four or three workers would spill (past target, or past spill with a task running), two not
    middle = recommend(record, cores=4, memory=10 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    assert middle.spills is False and (middle.n_workers, middle.threads_per_worker) == (2, 1)
    assert middle.spill_note.startswith("4x1 would run 4 tasks at once but spill")
    # a shape and limit the sweep measured borderline is never advised: the next shape is
    near = msgspec.structs.replace(_case("near", workers=2), borderline=True)  # 2x1 at 2 GiB, peaked near its line
    shunned = recommend(_sweep(near, _case("fine")), cores=2, memory=5 * GIB, margin=0.2,
                        kill_fraction=0.95).workloads["w"]
    assert (shunned.n_workers, shunned.threads_per_worker) == (1, 2)  # one footprint, two threads: 4 GiB
    # a borderline case is never the fastest or cheapest measured choice
    edgy = _sweep(msgspec.structs.replace(_case("edgy", wall=1.0), borderline=True), calm)
    advice = recommend(edgy, cores=4, memory=16 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    assert advice.fastest.id == "calm" and advice.borderline_cases == ["edgy"]


def test_the_environment_record_says_what_changes_memory_figures() -> None:
    from memreplay.records.environment import collect_environment

    memory = collect_environment().memory
    assert memory is not None and memory.worker_memory["target"] == 0.6
    assert memory.nanny_environ.get("MALLOC_TRIM_THRESHOLD_") == "65536"  # what a nanny sets by default
    assert set(memory.malloc) == {"MALLOC_TRIM_THRESHOLD_", "MALLOC_ARENA_MAX"} and memory.swap_bytes >= 0
    assert memory.transparent_hugepages in ("always", "madvise", "never", None)


def test_compare_warns_when_the_memory_environment_differs() -> None:
    base = _sweep(_case("w"))
    changed = msgspec.structs.replace(base.environment.memory, transparent_hugepages="always"
                                      if base.environment.memory.transparent_hugepages != "always" else "never")
    head = msgspec.structs.replace(base, environment=msgspec.structs.replace(base.environment, memory=changed))
    differences = compare_runs(base, head, GateRule(0.1, 8 * MIB)).environment
    assert [(d.field, d.warned) for d in differences] == [("memory.transparent_hugepages", True)]
    # and when the workers of a matched case ran under other thresholds than in BASE
    lax = _memory()
    lax.workers[0].settings["pause"] = False
    moved = compare_runs(_sweep(msgspec.structs.replace(_case("w"), memory_manager=_memory())),
                         _sweep(msgspec.structs.replace(_case("w"), memory_manager=lax)), GateRule(0.1, 8 * MIB))
    assert [d.field for d in moved.environment] == ["the workers' distributed.worker.memory (w 2x1-2GiB)"]



# --- on real clusters ---------------------------------------------------------------------------


class _AndDistributedsOwnCounters(MemoryManagerProbe):
    """The memory manager's probe, then, right after it stops, what distributed itself says on
    each worker, read independently: its spill buffer's spilled bytes and cumulative metrics."""

    def stop(self, outcome: str) -> MemoryManager:
        recorded = super().stop(outcome)

        def read(dask_worker) -> dict:
            buffer = dask_worker.data
            return {"spilled": tuple(buffer.spilled_total),
                    "written": buffer.cumulative_metrics[("disk-write", "bytes")],
                    "files": buffer.cumulative_metrics[("disk-write", "count")]}

        self.own = self._client.run(read)
        return recorded


@pytest.mark.slow
def test_the_spilled_bytes_of_a_hand_computed_case_and_distributeds_own_counters(tmp_path, text_corpus) -> None:
    from memreplay.execute.runner import run_case
    from memreplay.plan.matrix import Case
    from memreplay.probes.scheduler_footprint import SchedulerFootprintProbe
    from memreplay.probes.task_memory import TaskMemoryProbe
    from memreplay.probes.timeline import TimelineProbe
    from tests.helpers.sweep_workloads import _HELD, HELD_BLOCK_MIB, held_blocks

    # 16 results of 32 MiB on one 1 GiB worker whose target is 30 %, with the process-memory spill
    # and the pause off: the spill buffer keeps floor(0.3 × 1024 / 32) = 9 blocks in memory and
    # moves the other 7 to disk, 224 MiB, which stay there while the futures hold them
    (tmp_path / "target-30.toml").write_text("[memory]\ntarget = 0.3\nspill = false\npause = false\n")
    preset = load_thresholds(tmp_path / "target-30.toml")
    blocks = 16
    expected = (blocks - int(0.3 * 1024 // HELD_BLOCK_MIB)) * HELD_BLOCK_MIB * MIB
    config = ClusterConfig(1, 1, GIB, memory_thresholds=preset.name)
    counters = _AndDistributedsOwnCounters()
    try:
        result = run_case(Case(held_blocks(blocks), config, memory=preset), text_corpus, tmp_path / "case",
                          probes=[TaskMemoryProbe(), TimelineProbe(), counters, SchedulerFootprintProbe()],
                          timeout_s=120)
    finally:
        _HELD.clear()
    assert result.outcome == "ok", result.error
    (worker,) = result.memory_manager.workers
    assert worker.settings["target"] == 0.3 and worker.settings["spill"] is False and worker.spilling
    assert worker.spilled_peak.memory == pytest.approx(expected, rel=0.10), (worker.spilled_peak, expected)
    assert worker.spilled_peak.disk >= worker.spilled_peak.memory  # random blocks do not compress
    # what memreplay recorded at the end is what distributed's own counters say at that moment
    (own,) = counters.own.values()
    assert (worker.spilled_end.memory, worker.spilled_end.disk) == own["spilled"]
    assert worker.spilled_end.memory == pytest.approx(expected, rel=0.10)
    assert (worker.disk_write_bytes, worker.disk_write_count) == (own["written"], own["files"])
    assert worker.paused_s == 0 and result.borderline is False and result.kill_margin_percent > 20


SPILL_OR_PAUSE = f"""
[matrix]
workloads = ["tests.helpers.sweep_workloads:held"]
shapes = [[1, 1]]
memory_limits = ["1GiB"]
memory_thresholds = ["default", "no-spill"]
scale = {TEST_SCALE}
# the spilling case takes about 6 s alone and over 12 s beside a second suite; the paused one runs to this limit
timeout_s = 30
fil_profiles = false
size_ladder = false
"""


@pytest.mark.slow
def test_a_sweep_over_memory_presets_shows_spilling_and_pausing_everywhere(cli, tmp_path, corpus_cache) -> None:
    """960 MiB of results on a 1 GiB worker: under the default thresholds it spills and finishes;
    with spilling off it passes its pause threshold with blocks still to run, makes no progress,
    and is stopped at its time limit with its paused time noted."""
    from memreplay.records.schema import SweepRecord
    from memreplay.records.store import load_record
    from tests.helpers.browser import opened_report

    matrix = write_matrix(tmp_path, SPILL_OR_PAUSE)
    done = cli("sweep", str(matrix), "--results", str(tmp_path / "results"), "--corpora", str(corpus_cache))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    record = load_record(done.record_path, SweepRecord)
    spilled, paused = record.cases
    assert spilled.config.memory_thresholds == "default" and paused.config.memory_thresholds == "no-spill"
    assert paused.id.endswith("-1x1-1GiB-no-spill-r0")
    assert spilled.outcome == "ok" and spilled.memory_manager.spilled_peak_bytes > 128 * MIB
    assert spilled.memory_manager.disk_write_bytes >= spilled.memory_manager.spilled_peak_bytes
    assert paused.outcome == "timeout" and paused.memory_manager.paused_s > 2
    assert not paused.memory_manager.workers[0].spilling and paused.memory_manager.spilled_peak_bytes == 0
    assert paused.error.startswith("stopped at its time limit: worker tcp://") and "was paused for" in paused.error
    assert paused.memory_manager.workers[0].events[0].status == "paused"
    # the terminal: the memory manager's table and the cases' spilled and paused columns
    assert "Dask's memory manager" in done.stdout
    table = done.stdout.split("Dask's memory manager", 1)[1]
    assert f"{spilled.memory_manager.spilled_peak_bytes / MIB:,.1f} MiB" in table
    seconds = paused.memory_manager.paused_s
    assert (f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s") + ", 1/1 workers" in table
    # compare: the spilled and paused figures side by side (the run against itself: nothing regressed)
    compared = cli("compare", done.record_path, done.record_path)
    assert compared.returncode == 0, compared.stdout
    assert "spilled" in compared.stdout and "paused" in compared.stdout and "REGRESSED" not in compared.stdout
    # the report, as a user sees it
    with opened_report(Path(done.report_path)) as seen:
        headings = seen.page.locator("section h2").all_inner_texts()
        text = seen.page.locator("body").inner_text()
        legends = seen.page.evaluate("""() => Bokeh.documents.flatMap(d => [...d.all_models]
            .filter(m => m.type === 'LegendItem').map(m => m.label.value))""")
        seen.page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert seen.errors == [] and seen.blocked == []
    for heading in ("Dask's memory manager", "Dask's memory manager, worker by worker",
                    "Managed, unmanaged and spilled memory"):
        assert heading in headings, headings
    assert "was paused for" in text and "Managed: the sizeof of the results" in text
    # both cases drawn as the dashboard draws a worker: the stack, the limit and the thresholds
    assert {"managed", "unmanaged", "spilled (bytes on disk)", "memory limit", "target 0.6", "pause 0.8",
            "terminate 0.95", "paused"} <= set(legends), legends
