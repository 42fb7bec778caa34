"""How tests/data was made (run by hand, not by the tests): each kind's record of today's schema,
measured at a tiny scale and trimmed to a few KB, then the same record as schemas 8, 7, 6, 5, 4
and 3 wrote it (tests/data/README.md).

    python tests/data/make_data.py RUN_DIRECTORY KIND

copies RUN/run.json and the case files its renderers read (tasks.csv and timeline.csv, cut to
their first rows) to tests/data/schema9/KIND/, and writes the older versions beside it: schema
8 without what 9 added, schema 7 without what 8 added, schema 6 without what 7 added (and its
timeline.csv with RSS only), schema 5 without what 6 added and with the names 6 replaced,
schema 4 without what 5 added, schema 3 without what 4 added (schema 3 had no size records).
Records are written as compact JSON: small to check in."""

from __future__ import annotations

import copy
import csv
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROWS = 10  # rows kept per case file and per list: enough for every prefix, small enough to check in


def _without(table: object, *names: str) -> None:
    if isinstance(table, dict):
        for name in names:
            table.pop(name, None)


def _rename(table: object, old: str, new: str) -> None:
    if isinstance(table, dict) and old in table:
        table[new] = table.pop(old)


def _cases(record: dict) -> list[dict]:
    planned = record.get("settings", {}).get("matrix", {}).get("cases", []) if record["kind"] == "sweep" else []
    return [*record.get("cases", []), *planned]


def _ladders(record: dict) -> list[dict]:
    return [*record.get("ladders", []), *record.get("summary", {}).get("ladders", [])]


def as_schema_8(record: dict) -> dict:
    """9 added a scheduler record's ladder and settings.ladder_sizes and ladder_shapes, a
    scheduler structure's capacity, and a probe record's at_scale and its settings."""
    old = copy.deepcopy(record)
    old["schema_version"] = 8
    old.pop("ladder", None)
    old.pop("at_scale", None)
    _without(old.get("settings"), "ladder_sizes", "ladder_shapes", "scale_tasks", "scale_repeats")
    footprints = [*old.get("scenarios", []), *(case.get("scheduler") or {} for case in old.get("cases", []))]
    for footprint in footprints:
        for size in (footprint.get("structures") or {}).values():
            _without(size, "capacity")
    return old


def as_schema_7(record: dict) -> dict:
    """8 added a size ladder's duration_model and duration_repeat_errors_percent."""
    old = as_schema_8(record)
    old["schema_version"] = 7
    for ladder in _ladders(old):
        _without(ladder, "duration_model", "duration_repeat_errors_percent")
    return old


def as_schema_6(record: dict) -> dict:
    """7 added environment.memory, cases[].memory_manager, kill_margin_percent and borderline,
    config.memory_thresholds, a fidelity's spilled bytes, and timeline.csv's memory columns."""
    old = as_schema_7(record)
    old["schema_version"] = 6
    _without(old["environment"], "memory")
    for case in _cases(old):
        _without(case, "memory_manager", "kill_margin_percent", "borderline")
        _without(case.get("config"), "memory_thresholds")
        _without(case.get("fidelity"), "spilled_trace_bytes", "spilled_replay_bytes")
    return old


def as_schema_5(record: dict) -> dict:
    """6 renamed "probe-accuracy" to "probe", scheduler_profile and scheduler.profile to
    *_preset, and added environment.memreplay and timeline.started_unix_s."""
    old = as_schema_6(record)
    old["schema_version"] = 5
    old["kind"] = {"probe": "probe-accuracy"}.get(old["kind"], old["kind"])
    _without(old["environment"], "memreplay")
    for case in _cases(old):
        _rename(case.get("config"), "scheduler_preset", "scheduler_profile")
        _rename(case.get("scheduler"), "preset", "profile")
        _without(case.get("timeline"), "started_unix_s")
    return old


def as_schema_4(record: dict) -> dict:
    """5 added cases[].cluster, settings.matrix.cluster, host on profiles and ladders, and a
    replayed trace's cases[].fidelity."""
    old = as_schema_5(record)
    old["schema_version"] = 4
    for case in old.get("cases", []):
        _without(case, "cluster", "fidelity")
    _without(old.get("settings", {}).get("matrix"), "cluster")
    summary = old.get("summary", {})
    for item in [*old.get("profiles", []), *old.get("ladders", []), *summary.get("profiles", []),
                 *summary.get("ladders", [])]:
        _without(item, "host")
    return old


def as_schema_3(record: dict) -> dict | None:
    """4 added size records (none in 3), a sweep's summary.ladders and matrix size_ladder and
    ladder_repeats, each case's scheduler and config.scheduler_profile."""
    if record["kind"] == "size":
        return None
    old = as_schema_4(record)
    old["schema_version"] = 3
    _without(old.get("summary"), "ladders")
    _without(old.get("settings", {}).get("matrix"), "size_ladder", "ladder_repeats")
    for case in _cases(old):
        _without(case, "scheduler")
        _without(case.get("config"), "scheduler_profile")
    return old


def _cut_csv(source: Path, destination: Path, rows: int) -> None:
    with open(source, newline="") as reading, open(destination, "w", newline="") as writing:
        reader, writer = csv.reader(reading), csv.writer(writing)
        for number, row in enumerate(reader):
            if number > rows:
                break
            writer.writerow(row)


def _rss_only(directory: Path) -> None:
    """A timeline.csv as schema 6 and earlier wrote it: time, process and RSS."""
    for timeline in directory.rglob("timeline.csv"):
        with open(timeline, newline="") as reading:
            rows = [row[:3] for row in csv.reader(reading)]
        with open(timeline, "w", newline="") as writing:
            csv.writer(writing).writerows(rows)


def _write(path: Path, record: dict) -> None:
    path.write_text(json.dumps(record, separators=(",", ":")) + "\n")


def copy_run(run: Path, kind: str) -> Path:
    target = HERE / "schema9" / kind
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    record = json.loads((run / "run.json").read_text())
    for case in record.get("cases", []):
        source = run / "cases" / case["id"]
        directory = target / "cases" / case["id"]
        directory.mkdir(parents=True)
        case["directory"] = f"/a/moved/run/cases/{case['id']}"  # found beside the record, as a moved run's
        if case.get("task_memory"):
            _cut_csv(source / case["task_memory"]["csv"], directory / case["task_memory"]["csv"], ROWS)
            case["task_memory"]["rows"] = min(case["task_memory"]["rows"], ROWS)
        if case.get("timeline"):
            _cut_csv(source / case["timeline"]["csv"], directory / case["timeline"]["csv"], ROWS)
            case["timeline"]["png"] = None  # pictures are not checked in
    for profile in [*record.get("profiles", []), *record.get("summary", {}).get("profiles", [])]:
        profile["directory"] = None  # no flame graph checked in
        if profile.get("line_rss"):
            profile["line_rss"] = sorted(profile["line_rss"], key=lambda line: -line["increment_bytes"])[:ROWS]
    for scenario in record.get("scenarios", []):
        scenario["rss_timeline"] = scenario["rss_timeline"][:ROWS]
    for accuracy in record.get("accuracy", []):
        accuracy["rows"] = accuracy["rows"][:ROWS]
    for item in [case.get("memory_manager") for case in record.get("cases", [])]:
        for worker in (item or {}).get("workers", []):
            worker["events"] = worker["events"][:ROWS]
    _write(target / "run.json", record)
    for version, older in ((8, as_schema_8), (7, as_schema_7), (6, as_schema_6), (5, as_schema_5), (4, as_schema_4),
                           (3, as_schema_3)):
        made = older(record)
        if made is None:
            continue
        directory = HERE / f"schema{version}" / kind
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(target, directory)
        if version < 7:
            _rss_only(directory)
        _write(directory / "run.json", made)
    return target


if __name__ == "__main__":
    print(copy_run(Path(sys.argv[1]), sys.argv[2]))
