"""Plain-text tables for the terminal, fitted to its width: a table too wide to fit is set out
one block per row (its first cell as the block's title), never wrapped mid-row."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence

__all__ = ["DEFAULT_WIDTH", "format_table", "terminal_width"]

DEFAULT_WIDTH = 120  # columns, when the output is not a terminal whose width is known


def terminal_width() -> int:
    """``$COLUMNS``, else the terminal's width when standard output is one, else
    :data:`DEFAULT_WIDTH` (as :func:`shutil.get_terminal_size` decides)."""
    return shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]], width: int | None = DEFAULT_WIDTH) -> str:
    """Columns padded to their widest cell, numbers right-aligned, a column with no value left out;
    wider than ``width`` (None: no limit), one block per row instead."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    shown = [i for i in range(len(headers)) if not rows or any(row[i] for row in cells[1:])]  # no empty column
    cells = [[row[i] for i in shown] for row in cells]
    headers = cells[0]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    if width is None or len(rule) <= width:
        return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])
    return _blocks(cells, width)


def _blocks(cells: list[list[str]], width: int) -> str:
    """Each row as a block: its first cell, then ``header  value`` for every other non-empty cell,
    a value too long for the line folded under its header at a space where it has one."""
    headers, rows = cells[0], cells[1:]
    label = max((len(h) for h in headers[1:]), default=0) + 2
    out: list[str] = []
    for row in rows:
        out.append(f"{headers[0]}: {row[0]}" if headers[0] else row[0])
        for header, value in zip(headers[1:], row[1:]):
            if not value:
                continue
            room = max(20, width - label - 2)
            lines = textwrap.wrap(value, room, break_on_hyphens=False) or [value]
            out.append(f"  {header.ljust(label)}{lines[0]}".rstrip())
            out += [f"  {' ' * label}{line}" for line in lines[1:]]
        out.append("")
    return "\n".join(out).rstrip()


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text in ("", "-")
    return True
