"""The checked-in records of tests/data read in process: every kind in every readable schema
version loads as its own record type, the older versions hold only what their schema had (so
reading them tests the reading of old records, not of today's under an old number), and a
sweep's case files are found beside its record wherever the run was written."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from memreplay.records.schema import (
    READABLE_SCHEMA_VERSIONS,
    ProbeRecord,
    ProfileRecord,
    SchedulerRecord,
    SizeRecord,
    SweepRecord,
)
from memreplay.records.store import load_record

DATA = Path(__file__).parent / "data"
TYPES = {"sweep": SweepRecord, "profile": ProfileRecord, "size": SizeRecord, "scheduler": SchedulerRecord,
         "probe": ProbeRecord}
WRITTEN_KIND = {"probe": {3: "probe-accuracy", 4: "probe-accuracy", 5: "probe-accuracy"}}  # renamed in 6
HELD = [(version, kind) for version in READABLE_SCHEMA_VERSIONS for kind in TYPES
        if not (kind == "size" and version < 4)]  # size records came with schema 4


def _document(version: int, kind: str) -> dict:
    return json.loads((DATA / f"schema{version}" / kind / "run.json").read_text())


@pytest.mark.parametrize(("version", "kind"), HELD, ids=[f"schema{v}-{k}" for v, k in HELD])
def test_each_record_loads_as_its_kind(version: int, kind: str) -> None:
    document = _document(version, kind)
    assert (document["schema_version"], document["kind"]) == (version, WRITTEN_KIND.get(kind, {}).get(version, kind))
    record = load_record(DATA / f"schema{version}" / kind, TYPES[kind])
    assert type(record) is TYPES[kind] and record.schema_version == version
    assert record.environment.python and record.created
    for other, wrong in TYPES.items():  # and as no other kind
        if other != kind:
            with pytest.raises(Exception, match=f"is a {TYPES[kind].__struct_config__.tag} record, not a {other}"):
                load_record(DATA / f"schema{version}" / kind, wrong)


def _cases(document: dict) -> list[dict]:
    return document.get("cases", [])


@pytest.mark.parametrize("version", READABLE_SCHEMA_VERSIONS)
def test_an_older_record_holds_only_what_its_schema_had(version: int) -> None:
    sweep = _document(version, "sweep")
    matrix = sweep["settings"]["matrix"]
    cases = _cases(sweep)
    has = {  # what each schema added (harness/records/schema.py's history), as found in the data
        4: any("scheduler" in case for case in cases) and "size_ladder" in matrix
           and "ladders" in sweep["summary"],
        5: any("cluster" in case for case in cases) and any("fidelity" in case for case in cases)
           and "cluster" in matrix,
        6: "memreplay" in sweep["environment"] and any("started_unix_s" in (case.get("timeline") or {})
                                                        for case in cases),
        7: "memory" in sweep["environment"] and any("memory_manager" in case for case in cases)
           and any("memory_thresholds" in case.get("config", {}) for case in cases),
        8: any("duration_model" in ladder and "duration_repeat_errors_percent" in ladder
               for ladder in sweep["summary"].get("ladders", [])),
        9: "ladder" in (scheduler := _document(version, "scheduler"))
           and "ladder_sizes" in scheduler["settings"]
           and all("capacity" in size for scenario in scheduler["scenarios"]
                   for size in scenario["structures"].values()),
    }
    assert has == {added: version >= added for added in has}
    names = {key for case in cases for key in case.get("config", {})}
    if version >= 4:  # the scheduler preset, under its name of the time
        assert ("scheduler_preset" in names) == (version >= 6) and ("scheduler_profile" in names) == (version < 6)


def test_a_sweep_holds_the_outcomes_and_the_replay_its_renderers_show() -> None:
    for version in READABLE_SCHEMA_VERSIONS:
        record = load_record(DATA / f"schema{version}" / "sweep", SweepRecord)
        outcomes = {case.outcome for case in record.cases}
        assert {"ok", "oom"} <= outcomes and len(record.cases) >= 2, outcomes
        fidelities = [case.fidelity for case in record.cases if case.fidelity is not None]
        assert bool(fidelities) == (version >= 5)  # a replayed trace's fidelity came with schema 5
        spilled = [case for case in record.cases if case.memory_manager and case.memory_manager.spilled]
        assert bool(spilled) == (version >= 7)  # and the memory manager with schema 7


@pytest.mark.parametrize("version", [v for v in READABLE_SCHEMA_VERSIONS if v >= 4])
def test_a_ladders_duration_model_is_read_or_fitted_from_its_rungs(version: int) -> None:
    """Schema 8 records a ladder's duration model; a ladder of 4 to 7 has its rungs' durations,
    and the model is fitted from them when read: the same fit either way."""
    from memreplay.analysis.model import fit_ladder_durations, ladder_duration_model

    for ladder in [*load_record(DATA / f"schema{version}" / "sweep", SweepRecord).summary.ladders,
                   *load_record(DATA / f"schema{version}" / "size", SizeRecord).ladders]:
        assert (ladder.duration_model is not None) == (version >= 8)
        model = ladder_duration_model(ladder)
        assert model is not None and model.distinct_inputs == len(ladder.rungs)
        # the same fit up to rounding: a least-squares fit's last bits follow the CPU's BLAS kernels
        assert _flat(model) == pytest.approx(_flat(fit_ladder_durations(ladder)[0]), rel=1e-9)
        if version >= 8:
            assert ladder.duration_repeat_errors_percent == pytest.approx(fit_ladder_durations(ladder)[1], rel=1e-9)


def _flat(value: object, prefix: str = "") -> dict[str, object]:
    """A record part's fields as one flat dict (pytest.approx compares flat mappings)."""
    if isinstance(value, msgspec.Struct):
        value = msgspec.structs.asdict(value)
    if isinstance(value, dict):
        return {name: leaf for key, item in value.items() for name, leaf in _flat(item, f"{prefix}{key}.").items()}
    return {prefix: value}


@pytest.mark.parametrize("version", READABLE_SCHEMA_VERSIONS)
def test_a_sweeps_case_files_are_beside_its_record(version: int) -> None:
    """The record names the directory the run was written in; what is read is the copy's."""
    run = DATA / f"schema{version}" / "sweep"
    record = load_record(run, SweepRecord)
    for case in record.cases:
        assert not Path(case.directory).exists()  # written elsewhere, as a moved run is
        beside = run / "cases" / case.id
        if case.task_memory is not None:
            assert (beside / case.task_memory.csv).read_text().startswith("task_key,")
        if case.timeline is not None:  # the memory manager's columns came with schema 7
            header = (beside / case.timeline.csv).read_text().splitlines()[0]
            assert header.startswith("time_s,process,rss_bytes") and ("managed_bytes" in header) == (version >= 7)


def test_the_data_stays_small() -> None:
    sizes = sum(path.stat().st_size for path in DATA.rglob("*") if path.is_file())
    assert sizes < 100_000 * len(READABLE_SCHEMA_VERSIONS), sizes  # a few KB a record, compact JSON: not runs
