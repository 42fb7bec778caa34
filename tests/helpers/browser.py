"""Headless Chromium (Debian's package, driven by playwright) on pages served on loopback, with
every other request blocked and refused: what a user on an air-gapped machine would see."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
# For each bokeh plot on the page, the most painted pixels of any canvas in its (shadow) DOM.
PLOTS_DRAWN = """() => [...document.querySelectorAll('[data-root-id]')].map(root => {
    const canvases = [];
    const walk = node => {
        if (!node) return;
        if (node.tagName === 'CANVAS') canvases.push(node);
        if (node.shadowRoot) walk(node.shadowRoot);
        for (const child of node.children || []) walk(child);
    };
    walk(root);
    let most = 0;
    for (const c of canvases) {
        if (!c.width || !c.height) continue;
        const context = c.getContext('2d');
        if (!context) continue;
        const data = context.getImageData(0, 0, c.width, c.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]) painted++;
        most = Math.max(most, painted);
    }
    return most;
})"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def served(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on loopback; yields its base URL."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()


@dataclass
class OfflinePage:
    page: Any  # playwright's Page
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    blocked: list[str] = field(default_factory=list)  # requests that left loopback
    dialogs: list[str] = field(default_factory=list)  # alert() and friends: a script ran that should not


@contextlib.contextmanager
def offline_page(base_url: str, width: int = 1300) -> Iterator[OfflinePage]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium package is needed (nox -s tests installs it)"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            seen = OfflinePage(page)

            def only_loopback(route: Any) -> None:
                if route.request.url.startswith(base_url):
                    route.continue_()
                else:
                    seen.blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", only_loopback)
            page.on("console", lambda message: seen.errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: seen.errors.append(str(error)))
            page.on("dialog", lambda dialog: (seen.dialogs.append(dialog.message), dialog.dismiss()))
            yield seen
        finally:
            browser.close()


@contextlib.contextmanager
def opened_report(page_file: Path) -> Iterator[OfflinePage]:
    """A memreplay HTML page served on loopback and opened offline, its bokeh plots rendered."""
    with served(page_file.parent) as url, offline_page(url) as seen:
        seen.page.goto(url + page_file.name)
        seen.page.wait_for_function("window.Bokeh !== undefined && Bokeh.documents.length > 0", timeout=20_000)
        seen.page.wait_for_timeout(1000)  # bokeh paints its canvases after the documents exist
        yield seen
