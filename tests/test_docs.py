"""The documentation site: it builds offline with no warning (`mkdocs build --strict`: broken
links and anchors are warnings), and every command of the tutorial runs as the tutorial says.

A tutorial command is a line of a ```console block that starts with ``$ ``; lines that follow it
starting with ``> `` (a heredoc) continue it; anything else is output, shown but not checked.
A command exits 0 unless its line ends with ``# exit status N``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
BIN = Path(sys.executable).parent  # the venv's bin: memreplay, python
EXPECTED_EXIT = re.compile(r"#\s*exit status (\d+)\s*$")
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


@dataclass(frozen=True)
class Command:
    text: str
    expected_exit: int
    line: int  # where it starts in the page, for the failure message


def console_commands(markdown: str) -> list[Command]:
    """Every ``$`` command of the page's ```console blocks, in order."""
    commands: list[Command] = []
    lines: list[str] = []
    start = 0
    block_indent: str | None = None  # inside a console block: its fence's indentation
    continuing = False

    def finish() -> None:
        if lines:
            found = EXPECTED_EXIT.search(lines[0])
            commands.append(Command("\n".join(lines), int(found.group(1)) if found else 0, start))
            lines.clear()

    for number, raw in enumerate(markdown.splitlines(), start=1):
        fence = FENCE.match(raw)
        if block_indent is None:
            if fence and fence.group(2) == "console":
                block_indent = fence.group(1)
            continue
        if fence:  # the block ends
            finish()
            block_indent, continuing = None, False
            continue
        line = raw.removeprefix(block_indent)
        if line.startswith("$ "):
            finish()
            lines.append(line[2:])
            start, continuing = number, True
        elif continuing and (line.startswith("> ") or line == ">"):
            lines.append(line[2:])
        else:  # output
            finish()
            continuing = False
    return commands


def test_console_commands_are_parsed_with_heredocs_and_exit_statuses() -> None:
    page = "\n".join([
        "text", "```console", "$ echo one", "one", "$ cat > a.toml <<'EOF'", "> [matrix]", ">", ">     indented",
        "> EOF", "$ false   # exit status 1", "output", "> not a continuation after output", "```",
        "```bash", "$ not-a-console-block", "```",
        "!!! note", "    ```console", "    $ echo indented", "    ```",
    ])
    assert console_commands(page) == [
        Command("echo one", 0, 3),
        Command("cat > a.toml <<'EOF'\n[matrix]\n\n    indented\nEOF", 0, 5),
        Command("false   # exit status 1", 1, 10),
        Command("echo indented", 0, 19),
    ]


def test_the_tutorial_shows_every_shell_command_in_console_blocks() -> None:
    text = TUTORIAL.read_text()
    other_shells = [fence.group(2) for fence in map(FENCE.match, text.splitlines())
                    if fence and fence.group(2) in ("bash", "sh", "shell", "zsh")]
    assert not other_shells, f"shell examples in the tutorial belong in ```console blocks: {other_shells}"
    assert len(console_commands(text)) >= 8


def test_site_builds_strict_and_offline(tmp_path: Path) -> None:
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (it is in the docs and test extras: pip install -e '.[test]')")
    site = tmp_path / "site"
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},  # importing docs/hooks.py leaves nothing in the tree
    )
    assert built.returncode == 0, f"mkdocs build --strict failed:\n{built.stdout}\n{built.stderr}"
    pages = {path.relative_to(site).as_posix(): path.read_text() for path in site.rglob("*.html")}
    for generated, expected in (("reference/cli.html", "memreplay sweep"),
                                ("reference/run-json.html", "schema_version"),
                                ("reference/trace.html", "peak_increase_bytes")):
        assert expected in pages[generated], f"{generated} lacks its generated part ({expected!r})"
    for name, html in pages.items():
        assert "<!-- generated:" not in html, f"{name}: a placeholder was left unreplaced"
        remote = re.findall(r"""<(?:script|link)[^>]+(?:src|href)=["']https?://[^"']+""", html)
        assert not remote, f"{name} loads from the network: {remote}"


def test_readme_links_point_at_files_and_headings() -> None:
    """The README is read on its own (on a forge, in an editor): its links into docs/ are checked
    here, as mkdocs checks the site's."""
    from markdown.extensions.toc import slugify  # mkdocs' own heading ids

    readme = (ROOT / "README.md").read_text()
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = ROOT / path if path else ROOT / "README.md"
        if not file.exists():
            broken.append(target)
        elif anchor and file.is_file():
            headings = re.findall(r"^#+\s+(.*?)\s*(?:\{#([\w-]+)\})?\s*$", file.read_text(), re.MULTILINE)
            if anchor not in {explicit or slugify(text, "-") for text, explicit in headings}:
                broken.append(target)
    assert not broken, f"README.md links to what is not there: {broken}"


# Slow: it starts seven clusters, Fil and the size ladders' processes (about 45 s of CPU; 65-80 s on
# two cores shared with other work). The time limit leaves room for a loaded machine.
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_tutorial_commands_run_as_shown(tmp_path: Path) -> None:
    commands = console_commands(TUTORIAL.read_text())
    work = tmp_path / "work"  # empty, as the tutorial asks; the corpus cache is outside it
    work.mkdir()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "MEMREPLAY_RESULTS": str(tmp_path / "results"), "MEMREPLAY_CORPORA": str(tmp_path / "corpora")}
    timings = []
    for command in commands:
        started = time.monotonic()
        try:
            result = subprocess.run(["bash", "-c", command.text], cwd=work, env=env, capture_output=True, text=True,
                                    timeout=600)
        except subprocess.TimeoutExpired as expired:
            pytest.fail(f"docs/tutorial.md:{command.line}: `{command.text}` still running after {expired.timeout} s")
        timings.append((round(time.monotonic() - started, 1), command.text.splitlines()[0]))
        assert result.returncode == command.expected_exit, (
            f"docs/tutorial.md:{command.line}: `{command.text}` exited {result.returncode}, the tutorial says "
            f"{command.expected_exit}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}")
    print("\n".join(f"{seconds:6.1f} s  {first}" for seconds, first in timings))


def test_the_design_pages_drawing_is_the_import_contract() -> None:
    """The rooms as docs/design.md draws them, top to bottom, are the layers `nox -s lint`
    enforces (pyproject.toml), with nothing waived."""
    import re
    import tomllib

    root = Path(__file__).resolve().parent.parent
    contracts = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (rooms,) = [c for c in contracts if c["name"].startswith("harness rooms")]
    assert "ignore_imports" not in rooms
    enforced = [[name.strip().removeprefix("memreplay.") for name in layer.split("|")] for layer in rooms["layers"]]
    page = (root / "docs" / "design.md").read_text()
    drawing = page.split("## Layout", 1)[1].split("```text", 2)[2].split("```", 1)[0]
    drawn: list[list[str]] = []
    for line in drawing.splitlines():
        if match := re.match(r"^([a-z_]+)(/|\.py)?(\s|$)", line):  # a room starts at the left margin
            names = [re.sub(r"(/|\.py)$", "", part.strip()) for part in line.split("  ")[0].split("|")]
            drawn.append([name for name in names if name])
        elif match := re.match(r"^\s+\|\s*([a-z_]+)(\.py)?", line):  # another room of the same layer
            drawn[-1].append(match.group(1))
    assert drawn == enforced
