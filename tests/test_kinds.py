"""The kinds of result and the command line that introduces them, in process: every record type
has its one kind, every kind's commands are in the parser, ``memreplay`` alone lists them by
question, and a terminal table too wide to fit is set out one block per row."""

from __future__ import annotations

import typing

from memreplay.cli import QUESTIONS, build_parser, main
from memreplay.kinds import KINDS
from memreplay.records.schema import Record
from memreplay.report.blocks import Items, Plots, Section, Table, Text
from memreplay.report.table import format_table
from memreplay.report.text import sections_text
from memreplay.version import __version__


def test_every_record_type_has_one_kind_and_its_commands_parse() -> None:
    record_types = set(typing.get_args(Record))
    assert {kind.record_type for kind in KINDS.values()} == record_types
    assert all(kind.tag == kind.record_type.__struct_config__.tag for kind in KINDS.values())
    parser = build_parser()
    for kind in KINDS.values():
        for command in kind.commands:
            assert command.question in QUESTIONS, command.name
            for name in (command.name, *command.aliases):  # each parses as its own command
                help_text = parser._subparsers._group_actions[0].choices[name].format_help()  # type: ignore[union-attr]
                assert help_text.startswith(f"usage: memreplay {command.name}"), name


def test_memreplay_alone_lists_the_commands_by_question(capsys) -> None:
    assert main([]) == 0
    alone = capsys.readouterr().out
    assert main(["--help"]) == 0
    assert capsys.readouterr().out == alone
    assert "error" not in alone
    positions = [alone.index(question) for question in QUESTIONS]
    assert positions == sorted(positions)  # in the order of the questions a user comes with
    for command in ("run", "sweep", "bench", "size", "profile", "scheduler", "recommend", "compare", "record",
                    "report", "probe"):
        assert f"\n  {command} " in alone, command
    assert max(len(line) for line in alone.splitlines()) <= 100


def test_version_is_the_packages(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"memreplay {__version__}"


def test_an_alias_runs_as_its_command(capsys) -> None:
    assert main(["bench-probe", "--repeats", "0"]) == 2  # refused by memreplay probe's own check, in one line
    error = capsys.readouterr().err.strip().splitlines()
    assert error == ["memreplay: error: --repeats: must be at least 1, got 0"]


def test_a_table_that_fits_is_a_table_and_one_too_wide_is_a_block_per_row() -> None:
    headers = ("workload", "peak", "note")
    rows = [("wordcount-naive", "6.5 MiB", "x" * 30), ("imagechunks", "34.6 MiB", "")]
    table = format_table(headers, rows, width=120)
    assert table.splitlines()[0].split() == ["workload", "peak", "note"] and len(table.splitlines()) == 4
    blocks = format_table(headers, rows, width=40)
    assert all(len(line) <= 40 for line in blocks.splitlines())
    first = ["workload: wordcount-naive", "  peak  6.5 MiB", "  note  " + "x" * 30]
    assert blocks.split("\n\n")[0].splitlines() == first
    assert "note" not in blocks.split("\n\n")[1]  # an empty cell is left out of its block
    assert "  peak" in blocks.split("\n\n")[1]
    # a value longer than the line is folded under its header, never cut
    folded = format_table(("k", "v"), [("a", "y" * 100)], width=40)
    assert "".join(line.strip() for line in folded.splitlines()[1:]).endswith("y" * 100)


def test_an_empty_column_is_left_out_of_the_terminal_table() -> None:
    table = format_table(("case", "outcome", "why not ok"), [("a", "ok", ""), ("b", "ok", None)])
    assert "why not ok" not in table


def test_the_terminal_prints_the_pages_sections_without_notes_or_plots() -> None:
    sections = [
        Section("The answer", [Items(["2 cases: 2 ok."]), Text("an explanation for the page", note=True)]),
        Section("Plots only", [Plots([])]),
        Section("Page only", [Text("not for the terminal")], terminal=False),
        Section("Cases", [Table(("case", "outcome"), [("a", "ok")], caption="Every case")]),
    ]
    text = sections_text(sections)
    assert text.startswith("The answer\n==========\n\n- 2 cases: 2 ok.")
    assert "explanation" not in text and "Plots only" not in text and "Page only" not in text
    assert "Cases\n=====\n\nEvery case\n\ncase  outcome" in text
