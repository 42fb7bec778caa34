"""Every kind's record read and rendered in process, from the small checked-in records of
tests/data/ (every kind, every readable schema version): the terminal's text and the page are
built from the same sections, so each section the terminal prints is on the page too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from markupsafe import escape

from memreplay.kinds import KINDS, ReportContext, kind_of, record_text, write_report
from memreplay.records.schema import READABLE_SCHEMA_VERSIONS
from memreplay.records.store import RENAMED_KINDS_BEFORE_6, load_record

DATA = Path(__file__).parent / "data"
RECORDS = sorted(DATA.rglob("run.json"))
CONTEXT = ReportContext(kill_fraction=0.95, width=120)


def _written(path: Path) -> tuple[str, int]:
    document = json.loads(path.read_text())
    return RENAMED_KINDS_BEFORE_6.get(document["kind"], document["kind"]), document["schema_version"]


def test_the_data_holds_every_kind_in_every_readable_schema_version() -> None:
    held = {_written(path) for path in RECORDS}
    wanted = {(kind, version) for kind in KINDS for version in READABLE_SCHEMA_VERSIONS
              if not (kind == "size" and version < 4)}  # size ladders came with schema 4
    assert wanted <= held, sorted(wanted - held)


@pytest.mark.parametrize("path", RECORDS, ids=[str(p.parent.relative_to(DATA)) for p in RECORDS])
def test_a_record_reads_and_renders_in_the_terminal_and_on_the_page(path: Path, tmp_path: Path) -> None:
    kind, version = _written(path)
    record = load_record(path)
    assert record.__struct_config__.tag == kind and record.schema_version == version
    run = tmp_path / path.parent.name
    shutil.copytree(path.parent, run)  # the page is written beside the record; the data stays as checked in
    text = record_text(run, record, CONTEXT)
    assert text and all(len(line) <= CONTEXT.width for line in text.splitlines()), text
    page = write_report(run, record, CONTEXT).read_text()
    sections = kind_of(record).sections(run, record, CONTEXT)
    for section in sections:
        assert f">{escape(section.title)}<" in page, section.title
        if section.terminal and any(block.kind in ("table", "list") for block in section.blocks):
            assert f"{section.title}\n{'=' * len(section.title)}" in text, section.title
    assert "The answer" in text or "Size ladder" in text or "Fil profiles" in text


def test_older_records_are_read_under_todays_names() -> None:
    """Schema 5 and before said "scheduler profile" and "probe-accuracy": read as preset and probe."""
    from memreplay.records.schema import ProbeRecord, SweepRecord

    for version in (3, 4, 5):
        assert isinstance(load_record(DATA / f"schema{version}" / "probe"), ProbeRecord)
    for version in (4, 5):
        sweep = load_record(DATA / f"schema{version}" / "sweep", SweepRecord)
        presets = {case.config.scheduler_preset for case in sweep.cases}
        assert presets == {"default", "trimmed"}
        assert all(case.scheduler is not None and case.scheduler.preset == case.config.scheduler_preset
                   for case in sweep.cases)
        assert all(case.id.endswith("-trimmed-r0") == (case.config.scheduler_preset == "trimmed")
                   for case in sweep.cases)
    old = json_of(DATA / "schema5" / "sweep" / "run.json")
    assert "scheduler_profile" in old["cases"][0]["config"]  # the data is as schema 5 wrote it


def json_of(path: Path) -> dict:
    return json.loads(path.read_text())


def test_a_sweep_that_spilled_shows_the_memory_manager_in_the_terminal_and_on_the_page(tmp_path: Path) -> None:
    """Schema 7 records what Dask's memory manager did; a schema 6 sweep has none of it, and says nothing."""
    from memreplay.records.schema import SweepRecord

    for version, shown in ((7, True), (6, False)):
        run = tmp_path / f"schema{version}"
        shutil.copytree(DATA / f"schema{version}" / "sweep", run)
        record = load_record(run, SweepRecord)
        text = record_text(run, record, CONTEXT)
        page = write_report(run, record, CONTEXT).read_text()
        assert ("Dask's memory manager\n=====" in text) == shown
        assert ("Managed, unmanaged and spilled memory" in page) == shown
        if shown:
            spilled = next(case for case in record.cases if case.memory_manager and case.memory_manager.spilled)
            table = text.split("Dask's memory manager\n", 1)[1].split("\n\n\n", 1)[0]
            assert spilled.id in table and f"{spilled.memory_manager.spilled_peak_bytes / 2**20:,.1f} MiB" in table
            assert "transparent huge pages" in page and "distributed.worker.memory" in page
