"""One self-contained HTML page of :mod:`memreplay.report.blocks` (sections of text, tables,
bokeh plots and embedded documents), rendered by a Jinja template with autoescaping, bokeh's
JavaScript inline. Nothing on the page asks the network for anything.

Everything shown is user data (task keys, workload names, paths, error messages): it reaches
the page only through the template's escaping or bokeh's own serialisation, never pasted into
markup or a script by hand. Pictures (Fil's flame graph) are inlined as ``img`` data URIs,
so an SVG's own script never runs on the page (Fil's ``index.html`` beside the record keeps
the interactive flame graph).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import jinja2
from bokeh.embed import components
from bokeh.resources import Resources
from markupsafe import Markup

from memreplay.records.atomic import atomic_write_bytes
from memreplay.report.blocks import Block, Heading, Items, Picture, Plots, Section, Table, Text
from memreplay.version import __version__

__all__ = ["Block", "Heading", "Items", "Picture", "Plots", "Section", "Table", "Text", "render_page", "write_page"]


_ENVIRONMENT = jinja2.Environment(loader=jinja2.PackageLoader("memreplay.report", "templates"),
                                  autoescape=True, undefined=jinja2.StrictUndefined)


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
        version=__version__, written=time.strftime("%Y-%m-%d %H:%M:%S %z"))


def write_page(path: Path, title: str, subtitle: str, sections: Sequence[Section]) -> Path:
    atomic_write_bytes(path, render_page(title, subtitle, sections).encode("utf-8"))
    return path
