"""One self-contained HTML page: sections of text, tables, bokeh plots and embedded documents,
rendered by a Jinja template with autoescaping, bokeh's JavaScript inline. Nothing on the page
asks the network for anything.

Everything shown is user data (task keys, workload names, paths, error messages): it reaches
the page only through the template's escaping or bokeh's own serialisation, never pasted into
markup or a script by hand. Pictures (Fil's flame graph) are inlined as ``img`` data URIs,
so an SVG's own script never runs on the page (Fil's ``index.html`` beside the record keeps
the interactive flame graph).
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Literal

import jinja2
from bokeh.embed import components
from bokeh.resources import Resources
from markupsafe import Markup

from harness.records.atomic import atomic_write_bytes

__all__ = ["Block", "Heading", "Items", "Picture", "Plots", "Section", "Table", "Text", "render_page", "write_page"]


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

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


_ENVIRONMENT = jinja2.Environment(loader=jinja2.PackageLoader("harness.report", "templates"),
                                  autoescape=True, undefined=jinja2.StrictUndefined)


def _memreplay_version() -> str:
    try:
        return version("memreplay")
    except PackageNotFoundError:  # run from a checkout that is not installed
        return "(not installed)"


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    plots = [block for section in sections for block in section.blocks if isinstance(block, Plots)]
    models = [figure for block in plots for figure in block.figures]
    script, divs = components(models) if models else ("", ())
    given = iter(divs)
    for block in plots:
        block.divs = [Markup(next(given)) for _ in block.figures]
    # only the core bundle: these plots use no widgets, and the page stays small
    bokeh_js = Resources(mode="inline", components=["bokeh"]).render_js() if models else ""
    return _ENVIRONMENT.get_template("page.html.j2").render(
        title=title, subtitle=subtitle, sections=sections, bokeh_js=Markup(bokeh_js), bokeh_script=Markup(script),
        version=_memreplay_version(), written=time.strftime("%Y-%m-%d %H:%M:%S %z"))


def write_page(path: Path, title: str, subtitle: str, sections: Sequence[Section]) -> Path:
    atomic_write_bytes(path, render_page(title, subtitle, sections).encode("utf-8"))
    return path
