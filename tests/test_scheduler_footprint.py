"""Scheduler footprint: a real `dask scheduler` process under the default and trimmed presets,
preset checking against the installed distributed, and the 2023.9.3 key rename both ways."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import psutil
import pytest

from memreplay.errors import UserError
from memreplay.plan.distributed_config import installed_keys, load_preset
from memreplay.probes.deepsize import deep_size
from memreplay.records.schema import SchedulerRecord, SweepRecord
from memreplay.records.store import load_record
from memreplay.studies import scheduler as scheduler_study
from tests.helpers.browser import PLOTS_DRAWN, opened_report
from tests.helpers.cli import TEST_SCALE, assert_one_line_error

CONFIGS = Path(__file__).parents[1] / "configs" / "scheduler"


def test_deep_size_follows_deque_items() -> None:
    small = deque(f"entry-{i:06d}" for i in range(10))
    large = deque(f"entry-{i:06d}" for i in range(10_000))
    assert deep_size(large) > 10_000 * len("entry-000000")  # the items, not just the deque header
    assert deep_size(large) > 500 * deep_size(small)


@pytest.mark.slow
def test_trimmed_holds_fewer_entries_and_bytes(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the whole study as a user runs it: default, trimmed, default again, each a real scheduler process.
    # Its load comes in batches of 5,000 tasks (30,000 transitions); 1,000 tasks (6,000) are enough
    # to fill the default transition log (1,000 entries) and the trimmed task stream (500).
    monkeypatch.setattr(scheduler_study, "BATCH", 1_000)
    result = cli("scheduler", "--transitions", "5000", "--idle", "0.5", "--results", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Trimming saves" in result.stdout and "A/A noise" in result.stdout
    record = load_record(result.record_path, SchedulerRecord)
    assert "Scheduler log structures" in (Path(result.record_path).parent / "footprint.txt").read_text()
    default, trimmed, again = record.scenarios
    assert [s.label for s in record.scenarios] == ["default", "trimmed", "default-again"]
    assert trimmed.settings["distributed.admin.low-level-log-length"] == 200  # the scheduler saw it
    for name in ("transition_log", "task_stream"):
        assert trimmed.structures[name].entries < default.structures[name].entries
        assert trimmed.structures[name].bytes < default.structures[name].bytes
    assert trimmed.structures["transition_log"].entries == 200
    assert sum(s.bytes for s in trimmed.structures.values()) < sum(s.bytes for s in default.structures.values())
    assert default.transitions >= 5_000 and default.rss_end_bytes > 0 and default.rss_timeline
    assert record.comparison.structures_saving_bytes > 0
    assert record.comparison.rss_noise_bytes == abs(default.rss_end_bytes - again.rss_end_bytes)
    # its report, opened offline: the structures and the RSS over time drawn
    report = Path(result.report_path)
    with opened_report(report) as seen:
        drawn = seen.page.evaluate(PLOTS_DRAWN)
        headings = seen.page.locator("section h2").all_inner_texts()
    assert seen.errors == [] and seen.blocked == [] and len(drawn) == 2 and min(drawn) > 500
    assert headings[:2] == ["The answer", "Scheduler structures, default versus trimmed"]


def test_recipe_keys_are_mapped_onto_the_installed_names() -> None:
    preset = load_preset(CONFIGS / "trimmed.toml")
    assert preset.settings["distributed.admin.low-level-log-length"] == 200
    assert "distributed.scheduler.transition-log-length" not in preset.settings
    assert {m["recipe"] for m in preset.mapped} == {"distributed.scheduler.transition-log-length",
                                                     "distributed.scheduler.events-log-length"}
    assert preset.describe()["resolved"]["distributed.admin.log-length"] == 250


# The log-sizing keys of distributed 2023.6.0, before the rename.
OLD_KEYS = {
    "distributed.scheduler.transition-log-length": 100_000,
    "distributed.scheduler.events-log-length": 100_000,
    "distributed.admin.log-length": 10_000,
    "distributed.admin.max-error-length": 10_000,
    "distributed.diagnostics.computations.max-history": 100,
    "distributed.scheduler.dashboard.status.task-stream-length": 1000,
    "distributed.scheduler.dashboard.tasks.task-stream-length": 100_000,
}


def test_old_version_keeps_old_keys_and_maps_the_new_one_back(tmp_path: Path) -> None:
    old = load_preset(CONFIGS / "trimmed.toml", keys=OLD_KEYS)
    assert old.settings["distributed.scheduler.transition-log-length"] == 200
    assert old.settings["distributed.scheduler.events-log-length"] == 200
    assert old.mapped == [] and "distributed.admin.low-level-log-length" not in old.settings
    newer = tmp_path / "new-names.toml"
    newer.write_text('[recipe]\n"distributed.admin.low-level-log-length" = 150\n')
    back = load_preset(newer, keys=OLD_KEYS)
    assert back.settings == {"distributed.scheduler.transition-log-length": 150,
                             "distributed.scheduler.events-log-length": 150}


def test_unknown_config_key_is_refused_naming_its_replacement(cli, tmp_path: Path) -> None:
    renamed = tmp_path / "renamed.toml"
    renamed.write_text('[config]\n"distributed.scheduler.transition-log-length" = 100\n')
    if "distributed.admin.low-level-log-length" in installed_keys():
        with pytest.raises(UserError, match="calls it distributed.admin.low-level-log-length"):
            load_preset(renamed)
    made_up = tmp_path / "made-up.toml"
    made_up.write_text('[config]\n"distributed.scheduler.no-such-length" = 5\n')
    result = cli("scheduler", "--trimmed", str(made_up), "--results", str(tmp_path / "results"))
    assert_one_line_error(result, "config.distributed.scheduler.no-such-length: unknown key", str(made_up))


def test_a_preset_value_of_the_wrong_type_is_refused_before_any_process(cli, tmp_path: Path) -> None:
    preset = tmp_path / "wrong-type.toml"
    preset.write_text('[recipe]\n"distributed.admin.log-length" = "lots"\n')
    result = cli("scheduler", "--trimmed", str(preset), "--results", str(tmp_path / "results"))
    assert_one_line_error(result, str(preset), "recipe.distributed.admin.log-length: must be a whole number")


def test_a_scheduler_that_dies_fails_the_study_within_seconds_with_its_error(cli, tmp_path: Path) -> None:
    import time

    preset = tmp_path / "dies.toml"  # the right type, a value the scheduler cannot parse at start
    preset.write_text('[config]\n"distributed.scheduler.work-stealing-interval" = "soon"\n')
    started = time.monotonic()
    result = cli("scheduler", "--default", str(preset), "--results", str(tmp_path / "results"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]  # after the progress line, one line saying why
    assert "scheduler process exited with code" in last and "Invalid time unit: soon" in last
    assert time.monotonic() - started < 30


SCHEDULER_MATRIX = f"""
[matrix]
workloads = ["tests.helpers.sweep_workloads:many_tasks"]
shapes = [[1, 1]]
memory_limits = ["1GiB"]
scheduler_presets = ["default", "trimmed"]
scale = {TEST_SCALE}
fil_profiles = false
size_ladder = false
"""


@pytest.mark.slow
def test_every_case_has_its_own_scheduler_process_under_its_profile(cli, tmp_path: Path, corpus_cache: Path) -> None:
    matrix = tmp_path / "profiles.toml"
    matrix.write_text(SCHEDULER_MATRIX)
    result = cli("sweep", str(matrix), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    default, trimmed = load_record(result.record_path, SweepRecord).cases
    assert (default.id, trimmed.id) == ("tests.helpers.sweep_workloads.many_tasks-1x1-1GiB-r0",
                                        "tests.helpers.sweep_workloads.many_tasks-1x1-1GiB-trimmed-r0")
    for case in (default, trimmed):
        s = case.scheduler
        assert case.outcome == "ok" and s is not None and s.preset == case.config.scheduler_preset
        assert 0 < s.rss_start_bytes <= s.rss_peak_bytes and s.rss_end_bytes <= s.rss_peak_bytes
        assert s.peak_since == "case start" and s.transitions > 2_000
        # a `dask scheduler` process of its own, gone with its case; the timeline samples that process
        log = (Path(case.directory) / "scheduler.log").read_text()
        assert "Scheduler at:" in log and not psutil.pid_exists(s.pid)
        assert abs(case.timeline.peak_rss_bytes["scheduler"] - s.rss_peak_bytes) < 0.2 * s.rss_peak_bytes
    assert default.scheduler.pid != trimmed.scheduler.pid
    # the preset reached the scheduler: the transition log holds what each profile lets it keep
    log_length = installed_keys()["distributed.admin.low-level-log-length"]
    assert default.scheduler.structures["transition_log"].entries == log_length
    assert trimmed.scheduler.structures["transition_log"].entries == 200
    assert trimmed.scheduler.settings["distributed.admin.low-level-log-length"] == 200
    assert "What each scheduler preset saves" in result.stdout and "trimmed" in result.stdout
    page = Path(result.report_path).read_text()
    assert "The scheduler in each case" in page and "What each preset saves against the default" in page


def test_run_takes_a_scheduler_preset_by_name(cli, tmp_path: Path, corpus_cache: Path) -> None:
    result = cli("run", "wordcount-streaming", "--workers", "1", "--scheduler-preset", "trimmed", "--scale",
                 str(TEST_SCALE), "--results", str(tmp_path), "--corpora", str(corpus_cache))
    assert result.returncode == 0, result.stderr
    (case,) = load_record(result.record_path, SweepRecord).cases
    assert case.id.endswith("-trimmed-r0") and case.scheduler.preset == "trimmed"
    assert case.scheduler.settings["distributed.admin.low-level-log-length"] == 200
