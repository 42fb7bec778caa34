"""What a report is made of: sections of text, lists, tables, plots and pictures. Each kind
of result builds these once; the HTML page (:mod:`memreplay.report.html_page`) and the terminal
(:mod:`memreplay.report.text`) render the same blocks, so the two cannot disagree."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from markupsafe import Markup

__all__ = ["Block", "Heading", "Items", "Picture", "Plots", "Section", "Table", "Text"]


@dataclass
class Text:
    text: str
    note: bool = False  # a smaller, grey explanation
    kind: Literal["text"] = "text"


@dataclass
class Heading:
    text: str
    kind: Literal["heading"] = "heading"


@dataclass
class Items:
    items: Sequence[str]
    kind: Literal["list"] = "list"


@dataclass
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    caption: str | None = None
    numeric: Sequence[int] = ()  # column indices right-aligned as numbers
    code: Sequence[int] = ()  # column indices shown as source code
    row_styles: Sequence[str] | None = None  # per row: "", "flag" (worse) or "good"
    kind: Literal["table"] = "table"

    @property
    def cell_classes(self) -> list[str]:
        return ["num" if i in self.numeric else "code" if i in self.code else "" for i in range(len(self.headers))]


@dataclass
class Plots:
    figures: Sequence[Any]  # bokeh models, laid out side by side
    divs: list[Markup] = field(default_factory=list)  # filled in by render_page
    kind: Literal["plots"] = "plots"


@dataclass
class Picture:
    """An image inlined as a data URI. An SVG shown this way runs none of its scripts."""

    title: str
    data: bytes
    media_type: str = "image/svg+xml"
    kind: Literal["picture"] = "picture"

    @property
    def uri(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


Block = Text | Heading | Items | Table | Plots | Picture


@dataclass
class Section:
    title: str
    blocks: list[Block]
    style: str = ""  # "answer", "warning" or "regressed" colours the whole section
    terminal: bool = True  # also printed in the terminal (its tables and lines; notes and plots are the page's)

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")
