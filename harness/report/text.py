"""The terminal's rendering of report blocks: the same sections as the HTML page, as plain text.
Explanatory notes, plots and pictures are the page's; titles, lines, lists and tables are both."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from memreplay.report.blocks import Block, Heading, Items, Section, Table, Text
from memreplay.report.table import DEFAULT_WIDTH, format_table

__all__ = ["block_text", "sections_text"]


def block_text(block: Block, width: int = DEFAULT_WIDTH) -> str | None:
    """One block as text, or None for what only a page shows."""
    if isinstance(block, Table):
        table = format_table(block.headers, block.rows, width)
        return f"{_fill(block.caption, width)}\n\n{table}" if block.caption else table
    if isinstance(block, Text):
        return None if block.note else _fill(block.text, width)
    if isinstance(block, Heading):
        return _fill(block.text, width)
    if isinstance(block, Items):
        return "\n".join(textwrap.fill(item, width, initial_indent="- ", subsequent_indent="  ",
                                       break_long_words=False, break_on_hyphens=False) for item in block.items)
    return None


def _fill(text: str, width: int) -> str:
    return textwrap.fill(text, width, break_long_words=False, break_on_hyphens=False)


def sections_text(sections: Sequence[Section], width: int = DEFAULT_WIDTH) -> str:
    """Every section meant for the terminal: its title, underlined, then its blocks."""
    parts: list[str] = []
    for section in sections:
        if not section.terminal:
            continue
        shown = [text for block in section.blocks if (text := block_text(block, width))]
        if shown:
            parts.append("\n\n".join([f"{section.title}\n{'=' * min(len(section.title), width)}", *shown]))
    return "\n\n".join(parts)
