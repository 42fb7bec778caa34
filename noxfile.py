"""Sessions: `nox -s bench` (the main job), `nox -s tests`, `nox -s lint`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """Install memreplay with its test extras and run the test suite (real clusters, small scale)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: the default sweep (configs/default.toml); results under results/."""
    session.install(".")
    session.run("memreplay", "bench", *session.posargs)


@nox.session(name="bench-probe")
def bench_probe(session: nox.Session) -> None:
    """Per-task probe: accuracy on a ground-truth graph and overhead, beside dask-memusage."""
    session.install(".[test]")
    session.run("memreplay", "bench-probe", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.17")
    session.run("ruff", "check", ".")
