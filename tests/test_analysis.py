"""Pure tests of the analysis room and the readers it stands on: no cluster, milliseconds each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memreplay.analysis.model import fit_peak_model
from memreplay.analysis.probe_accuracy import summarise_accuracy, tolerance_bytes
from memreplay.analysis.recommend import recommend
from memreplay.analysis.scheduler_savings import compare_footprints
from memreplay.analysis.task_summary import largest_by_prefix, largest_task, summarise_task_memory, worker_footprint
from memreplay.errors import UserError
from memreplay.plan.cluster_config import ClusterConfig
from memreplay.plan.sizes import compact_bytes, parse_size
from memreplay.records.schema import (
    AccuracyRun,
    CaseResult,
    CorpusRef,
    PrefixSummary,
    SchedulerScenario,
    StructureSize,
    SweepRecord,
    SweepSettings,
    TaskMemory,
    TruthRow,
    WorkloadRef,
)
from memreplay.records.store import new_record_fields
from memreplay.records.task_rows import COLUMNS, MIB, TaskRow, read_task_rows

GIB = 2**30


def row(**given: Any) -> TaskRow:
    fields: dict[str, Any] = dict(
        task_key="('f-abc', 0)", min_memory_mb=None, max_memory_mb=None, task_prefix="f", worker="w1", start=0.0,
        stop=1.0, duration_s=1.0, baseline_bytes=100 * MIB, peak_bytes=None, peak_increase_bytes=10 * MIB,
        input_bytes=MIB, output_bytes=0, concurrent_tasks=1, method="clear_refs", state="memory")
    fields.update(given)
    return TaskRow(**fields)


# --- model ---------------------------------------------------------------------------------------


def test_model_recovers_an_exact_line_and_predicts_the_held_out_input() -> None:
    rows = [row(task_key=f"('f-abc', {i})", input_bytes=size, peak_increase_bytes=5 * MIB + 3 * size)
            for i, size in enumerate((MIB, 2 * MIB, 4 * MIB, 32 * MIB))]
    (model,) = fit_peak_model(rows).values()
    assert model.slope == pytest.approx(3) and model.intercept_bytes == pytest.approx(5 * MIB, abs=1)
    assert model.heldout.input_bytes == 32 * MIB and model.heldout.error_percent == pytest.approx(0, abs=0.1)
    assert model.max_peak_increase_bytes == 5 * MIB + 96 * MIB


def test_model_needs_three_distinct_inputs_and_tasks_that_ran_alone() -> None:
    two_sizes = [row(input_bytes=size, peak_increase_bytes=size) for size in (MIB, MIB, 2 * MIB)]
    assert fit_peak_model(two_sizes) == {}
    crowded = [row(input_bytes=size, peak_increase_bytes=size, concurrent_tasks=2) for size in (1, 2, 3, 4)]
    assert fit_peak_model(crowded) == {}
    unmeasured = [row(input_bytes=size, peak_increase_bytes=None) for size in (1, 2, 3, 4)]
    assert fit_peak_model(unmeasured) == {}


def test_model_keeps_the_group_that_holds_the_memory_not_its_alias() -> None:
    work = [row(task_key=f"('from_sequence-f-abc', {i})", input_bytes=s, peak_increase_bytes=10 * s)
            for i, s in enumerate((MIB, 2 * MIB, 3 * MIB))]
    alias = [row(task_key=f"('f-abc', {i})", input_bytes=s, peak_increase_bytes=1000)
             for i, s in enumerate((MIB, 2 * MIB, 3 * MIB))]
    assert fit_peak_model(alias + work)["f"].group == "from_sequence-f-abc"


def test_held_out_error_of_a_zero_measurement_is_not_a_percentage() -> None:
    rows = [row(input_bytes=size, peak_increase_bytes=0 if size == 3 else size) for size in (1, 2, 3)]
    assert fit_peak_model(rows)["f"].heldout.error_percent is None


# --- task summaries ----------------------------------------------------------------------------


def test_largest_task_is_one_definition_with_or_without_neighbours() -> None:
    alone, crowded = row(peak_increase_bytes=5 * MIB), row(peak_increase_bytes=50 * MIB, concurrent_tasks=2)
    assert largest_task([alone, crowded]) is crowded
    assert largest_task([alone, crowded], alone_only=True) is alone
    assert largest_task([row(peak_increase_bytes=None)]) is None
    other = row(task_prefix="g", peak_increase_bytes=MIB)
    assert largest_by_prefix([alone, crowded, other]) == {"f": crowded, "g": other}


def test_worker_footprint_is_the_median_of_each_workers_lowest_start() -> None:
    rows = [row(worker="a", baseline_bytes=70 * MIB), row(worker="a", baseline_bytes=90 * MIB),
            row(worker="b", baseline_bytes=80 * MIB), row(worker="c", baseline_bytes=100 * MIB)]
    assert worker_footprint(rows) == 80 * MIB
    assert worker_footprint([row(baseline_bytes=None)]) is None


def test_task_memory_summary_counts_percentiles_deaths_and_errors() -> None:
    rows = [row(peak_increase_bytes=i * MIB) for i in range(1, 101)]
    rows += [row(state="erred", peak_increase_bytes=None),
             row(task_key="dead", state="worker-died", peak_increase_bytes=None, peak_bytes=GIB, stop=None)]
    summary = summarise_task_memory(rows, "tasks.csv")
    f = summary.by_prefix["f"]
    assert (f.tasks, f.measured, f.erred) == (102, 100, 1)
    assert f.peak_increase_max_bytes == 100 * MIB and f.peak_increase_p50_bytes == pytest.approx(50.5 * MIB, rel=0.01)
    assert f.largest_task.peak_increase_bytes == 100 * MIB
    assert [d.task_key for d in summary.worker_died] == ["dead"] and summary.worker_died[0].peak_bytes == GIB


# --- recommendation ------------------------------------------------------------------------------


def _case(case_id: str, outcome: str = "ok", workers: int = 2, peak: int = GIB, footprint: int = 100 * MIB,
          wall: float = 10.0, alone: int | None = None, workload: str = "w") -> CaseResult:
    config = ClusterConfig(n_workers=workers, threads_per_worker=1, memory_limit=2 * GIB)
    return CaseResult(
        id=case_id, workload=WorkloadRef(name=workload, version=1, corpus="text"),
        corpus=CorpusRef(kind="text", root="/c", scale=1, seed=1, generator_version=1, files=1, total_bytes=1),
        config=config, directory="/d", outcome=outcome, wall_time_s=wall,
        cost_gib_s=wall * config.total_memory / GIB, answer_check="passed",
        task_memory=TaskMemory(csv="tasks.csv", rows=1, methods=["clear_refs"], worker_footprint_bytes=footprint,
                               by_prefix={"f": PrefixSummary(tasks=1, measured=1, erred=0,
                                                             peak_increase_p50_bytes=peak,
                                                             peak_increase_p95_bytes=peak,
                                                             peak_increase_max_bytes=peak,
                                                             peak_increase_max_alone_bytes=alone,
                                                             largest_task=None)}))


def _sweep(*cases: CaseResult) -> SweepRecord:
    from memreplay.records.schema import MatrixSettings

    settings = SweepSettings(matrix=MatrixSettings(source="t", scale=1, repeats=1, timeout_s=None,
                                                   fil_profiles=False, cases=[]))
    return SweepRecord(settings=settings, cases=list(cases), **new_record_fields())


def test_recommendation_sizes_against_the_kill_line_and_rounds_up() -> None:
    record = _sweep(_case("w-2x1"), _case("w-1x1", workers=1, wall=15.0), _case("w-4x1", outcome="oom", workers=4))
    advice = recommend(record, cores=4, memory=3 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    # one worker at its worst holds 100 MiB + 1 GiB; killed at 95 % of its limit: 1183.2 MiB, rounded up to 1216 MiB.
    # 2.4 GiB usable: two such workers fit, a third does not
    assert (advice.tasks_at_once, advice.n_workers, advice.threads_per_worker) == (2, 2, 1)
    assert advice.memory_limit == 1216 * MIB and advice.needs_per_worker_bytes == 1124 * MIB
    assert 0.95 * advice.memory_limit > advice.needs_per_worker_bytes  # below the kill line, with what was measured
    assert advice.fastest.id == "w-2x1" and advice.cheapest.id == "w-1x1"  # 30 GiB·s against 40
    assert advice.oom_cases == ["w-4x1"]
    # the kill line read from the config moves the advice: at 50 % a worker needs 2304 MiB, so only one
    # fits, and it gets the whole usable 2.4 GiB in whole steps
    half = recommend(record, cores=4, memory=3 * GIB, margin=0.2, kill_fraction=0.5).workloads["w"]
    assert (half.tasks_at_once, half.memory_limit) == (1, 2432 * MIB)
    small = recommend(record, cores=4, memory=GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    assert small.tasks_at_once == 0 and small.reason.startswith("does not fit: one worker running one task needs")


def test_recommendation_takes_the_largest_peak_alone_and_the_largest_footprint() -> None:
    record = _sweep(_case("r0", peak=900 * MIB, alone=900 * MIB), _case("r1", peak=GIB, footprint=120 * MIB, alone=GIB),
                    _case("crowded", peak=2 * GIB))  # with neighbours only: 2 GiB, a neighbour's memory in it
    recommendation = recommend(record, cores=8, memory=64 * GIB, margin=0.2, kill_fraction=0.95)
    advice = recommendation.workloads["w"]
    assert advice.largest_peak_increase_bytes == GIB and recommendation.worker_footprint_bytes == 120 * MIB
    assert advice.needs_per_worker_bytes == 120 * MIB + GIB and advice.tasks_at_once == 8


def test_recommendation_never_advises_less_than_a_worker_needs_to_start() -> None:
    advice = recommend(_sweep(_case("tiny", peak=MIB, footprint=50 * MIB)), cores=2, memory=8 * GIB, margin=0.2,
                       kill_fraction=0.95).workloads["w"]
    assert advice.memory_limit >= 256 * MIB and advice.tasks_at_once == 2


def test_a_workload_that_always_ran_out_of_memory_gets_a_sentence() -> None:
    record = _sweep(_case("a", outcome="oom"), _case("b", outcome="oom"), _case("ok", workload="other"))
    advice = recommend(record, cores=4, memory=8 * GIB, margin=0.2, kill_fraction=0.95).workloads["w"]
    assert advice.tasks_at_once == 0 and advice.oom_cases == ["a", "b"]
    assert advice.reason == "no advice: every case ran out of memory; sweep larger memory limits"


# --- scheduler footprint, probe accuracy -----------------------------------------------------------


def _scenario(label: str, rss: int, log_bytes: int, entries: int) -> SchedulerScenario:
    return SchedulerScenario(label=label, preset={"distributed": "2026.8.0"}, tasks=1, load_s=1, idle_s=1,
                             rss_start_bytes=rss, rss_end_bytes=rss, rss_timeline=[],
                             structures={"transition_log": StructureSize(entries=entries, bytes=log_bytes)},
                             settings={}, transitions=1, pid=1, dask="2026.8.0")


def test_footprint_comparison_sets_the_saving_against_the_a_a_noise() -> None:
    comparison = compare_footprints(_scenario("default", 150 * MIB, 40 * MIB, 1000),
                                    _scenario("trimmed", 110 * MIB, 2 * MIB, 200),
                                    _scenario("default-again", 151 * MIB, 40 * MIB, 1000))
    assert comparison.rss_saving_bytes == 40 * MIB and comparison.rss_noise_bytes == MIB
    assert comparison.reconciled_percent == 95.0
    assert comparison.rows[0].default_bytes_per_entry == 40 * MIB / 1000
    assert comparison.rows[0].published_bytes_per_entry == 368
    nothing_saved = compare_footprints(_scenario("default", MIB, 0, 0), _scenario("trimmed", 2 * MIB, 0, 0),
                                       _scenario("default-again", MIB, 0, 0))
    assert nothing_saved.reconciled_percent is None and nothing_saved.rows[0].default_bytes_per_entry is None


def test_accuracy_summary_counts_rows_within_the_goal() -> None:
    def truth(key: str, mib: float, measured: float | None, seconds: float = 0.001) -> TruthRow:
        value = None if measured is None else int(measured * MIB)
        true = int(mib * MIB)
        return TruthRow(key=key, truth_bytes=true, seconds=seconds, bucket="<=2 ms" if seconds <= 0.002 else "> 200 ms",
                        measured_bytes=value, error_bytes=None if value is None else value - true,
                        within_tolerance=value is not None and abs(value - true) <= tolerance_bytes(true),
                        at_least_truth=value is not None and value >= true, concurrent_tasks=1)

    summary = summarise_accuracy(AccuracyRun(probe="p", threads=1, rows=[
        truth("a", 100, 100.5), truth("b", 100, 90), truth("c", 1, None), truth("d", 500, 505, seconds=1)]))
    assert (summary.tasks, summary.rows_present, summary.within_tolerance, summary.at_least_truth) == (4, 3, 2, 2)
    assert summary.worst_shortfall_bytes == 10 * MIB
    assert summary.by_bucket["<=2 ms"].rows == 2 and summary.by_bucket["<=2 ms"].tasks == 3
    assert tolerance_bytes(10 * MIB) == MIB and tolerance_bytes(500 * MIB) == 5 * MIB


# --- sizes and the tasks.csv reader ----------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("4GiB", 4 * GIB), ("500MiB", 500 * MIB), (1024, 1024),
                                                 ("1.5 GiB", int(1.5 * GIB))])
def test_sizes_parse(given: object, expected: int) -> None:
    assert parse_size(given, "--memory") == expected


@pytest.mark.parametrize("given", ["lots", "-5MiB", "0", 0, True, None, float("nan"), float("inf"), "1e400", [1]])
def test_bad_sizes_are_one_line_naming_the_option(given: object) -> None:
    with pytest.raises(UserError, match="^--memory: "):
        parse_size(given, "--memory")


def test_compact_sizes_name_case_directories() -> None:
    assert (compact_bytes(4 * GIB), compact_bytes(384 * MIB), compact_bytes(3 * 1024)) == ("4GiB", "384MiB", "3KiB")


def test_the_tasks_csv_reader_refuses_what_is_not_one(tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(UserError, match="not a memreplay tasks.csv"):
        read_task_rows(other)
    broken = tmp_path / "broken.csv"
    broken.write_text(",".join(COLUMNS) + "\nk,1,2,f,w,0,1,1,lots,,,,,1,clear_refs,memory\n")
    with pytest.raises(UserError, match="line 2"):
        read_task_rows(broken)
    short = tmp_path / "short.csv"
    short.write_text(",".join(COLUMNS) + "\nk,1,2\n")
    with pytest.raises(UserError, match="line 2"):
        read_task_rows(short)


def test_a_hand_edited_negative_size_is_refused(tmp_path: Path) -> None:
    import msgspec

    from memreplay.records.store import load_record

    (tmp_path / "run.json").write_bytes(msgspec.json.encode(_sweep(_case("edited", footprint=-10**12))))
    with pytest.raises(UserError, match=r"Expected `int` >= 0 - at `\$.cases\[0\].task_memory.worker_footprint_bytes`"):
        load_record(tmp_path)
