"""Sessions: `nox -s bench` (the main job), `nox -s tests`, `nox -s lint`, `nox -s compat` (the
core of the suite on three dask/distributed releases); the benchmarks of a
kind, `bench-KIND` running `memreplay KIND` (`bench-probe`, `bench-scheduler`,
`bench-scheduler-ladder`), `bench-plan` (a rollout plan followed), `bench-report` (a million task
rows); CI's memory
tracking: `trend` (`memreplay trend`, the asv site), `regression` (the gate), `regression-proof`,
and `bench-micro`; `docs` (the documentation site)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]


@nox.session
def tests(session: nox.Session) -> None:
    """Install memreplay with its test extras and run the test suite (real clusters, small scale),
    one pytest worker per core, each test file on one worker (its module fixtures run once), the
    longest files first (tests/conftest.py) so that the workers finish together.
    `nox -s tests -- -m "not slow"` skips the tests that start several clusters or profilers."""
    session.install("-e", ".[test]")
    _ensure_debian_packages(session, slurm=True)
    session.run("pytest", "-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder", *session.posargs)


# The dask/distributed pairs `nox -s compat` runs the core of the suite on: the floor (2024.4.2,
# whose nanny is the first to log `worker-restart-memory`), one release from 2025, and the newest.
COMPAT_DASK = ["2024.4.2", "2025.5.1", "2026.8.0"]
# With the floor, every other dependency at its floor too (pyproject.toml's lower bounds), as a
# platform image of spring 2024 would have them; the other pairs take the newest that pip finds.
FLOOR = ["numpy==1.26.4", "scipy==1.12.0", "psutil==5.9.8", "msgspec==0.18.6", "filelock==3.13.4", "click==8.1.7",
         "matplotlib==3.8.4", "bokeh==3.4.1", "jinja2==3.1.3"]
# The core: every distributed internal memreplay touches (test_compat), the exact probe and the
# scheduler preload (test_task_memory), run and sweep with out-of-memory cases (test_sweep, test_cli,
# test_any_cluster_own), record and replay (test_replay), the wheel (test_packaging), and what Dask's
# memory manager did (test_memory_manager).
COMPAT_TESTS = ["tests/test_compat.py", "tests/test_task_memory.py", "tests/test_sweep.py", "tests/test_cli.py",
                "tests/test_any_cluster_own.py", "tests/test_replay.py", "tests/test_packaging.py",
                "tests/test_memory_manager.py"]


@nox.session
@nox.parametrize("dask", COMPAT_DASK)
def compat(session: nox.Session, dask: str) -> None:
    """The core of the suite on each dask/distributed pair of COMPAT_DASK, memreplay installed from
    its wheel's sources (not editable) with dask and distributed pinned (and, on the floor, every
    other dependency at its floor): `nox -s compat` runs all three, `nox -s "compat(dask='2024.4.2')"`
    one."""
    session.install(".[test]", f"dask[bag]=={dask}", f"distributed=={dask}", *(FLOOR if dask == COMPAT_DASK[0] else []))
    session.run("python", "-c", "import dask, distributed, numpy, bokeh; print('dask', dask.__version__, "
                "'distributed', distributed.__version__, 'numpy', numpy.__version__, 'bokeh', bokeh.__version__)")
    session.run("pytest", *COMPAT_TESTS, "-n", "auto", "--dist", "loadfile", "--no-loadscope-reorder",
                *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site (MkDocs, offline): `mkdocs build --strict` into results/site/; a
    warning, a broken link or a missing anchor fails it. Open results/site/index.html."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", "--site-dir", "results/site", *session.posargs)


@nox.session(name="docs-picture")
def docs_picture(session: nox.Session) -> None:
    """docs/report.png, the picture of a report in the README and the site: the browser test's
    real sweep, its report as Chromium shows it."""
    session.install("-e", ".[test]")
    _ensure_debian_packages(session)
    picture = Path("docs/report.png").resolve()
    picture.parent.mkdir(exist_ok=True)
    picture.unlink(missing_ok=True)
    session.run("pytest", "tests/test_report.py", "-k", "renders_offline", "-p", "no:xdist", "-rs",
                env={"MEMREPLAY_REPORT_SCREENSHOT": str(picture)})
    if not picture.exists():  # the test was skipped (no /proc/self/clear_refs here)
        session.error(f"{picture} was not made: the browser test did not run (see its skip reason above)")


def _ensure_debian_packages(session: nox.Session, slurm: bool = False) -> None:
    """The browser test drives Debian's chromium through playwright (playwright's own browser
    download does not work offline); tests/test_slurm.py starts a one-node SLURM of its own
    from Debian's slurm-wlm and munge. Install what is missing (as root; otherwise the SLURM
    tests say why they skip)."""
    wanted = {"chromium": "chromium", **({"slurmctld": "slurm-wlm", "munged": "munge"} if slurm else {})}
    missing = [package for command, package in wanted.items() if not shutil.which(command)]
    if not missing:
        return
    if os.geteuid() != 0:
        if "chromium" in missing:
            session.error("the browser test needs Debian's chromium: sudo apt-get install -y chromium")
        session.warn(f"tests/test_slurm.py will skip: it needs Debian's {' and '.join(missing)}, installed as root")
        return
    # Two sessions at once (two checkouts' tests on one machine) would both take apt's lock and
    # one would fail ("Unable to lock directory /var/lib/apt/lists/"): ours wait for each other
    # on a lock of their own, and for any other apt user up to the lock timeout.
    apt = ["flock", "/var/lock/memreplay-apt", "apt-get", "-o", "DPkg::Lock::Timeout=600"]
    session.run(*apt, "update", "-qq", external=True)
    session.run(*apt, "install", "-y", "-qq", "--no-install-recommends", *missing, external=True,
                env={"DEBIAN_FRONTEND": "noninteractive"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, and the import-linter contracts that keep the rooms of harness/ in one-way order."""
    session.install("ruff>=0.17", "import-linter>=2.1")
    session.run("ruff", "check", ".")
    # import-linter walks a package's folder; memreplay is assembled from several (harness/,
    # workloads/, corpora/, configs/), so it reads the installed tree. Nothing is imported.
    session.install("--no-deps", ".")
    session.run("lint-imports")


@nox.session
def bench(session: nox.Session) -> None:
    """The main job: the default sweep (configs/default.toml); results under results/."""
    session.install(".")
    session.run("memreplay", "bench", *session.posargs)


@nox.session(name="bench-probe")
def bench_probe(session: nox.Session) -> None:
    """`memreplay probe`: the per-task probe's accuracy on a ground-truth graph and its overhead,
    beside dask-memusage (a record of kind probe)."""
    session.install(".[comparison]")
    session.run("memreplay", "probe", *session.posargs)


@nox.session(name="bench-plan")
def bench_plan(session: nox.Session) -> None:
    """Does a rollout plan hold when followed? Sweep, plan for twice the input on two catalog
    machine types that fit here, run each planned shape on it, compare time and worker peak RSS
    (results/plan-check/)."""
    session.install(".")
    session.run("python", "-m", "memreplay.studies.plan_check", *session.posargs)


# distributed 2023.6.0 predates the 2023.9.3 rename of the scheduler's log-length keys.
OLD_DISTRIBUTED = ["dask[bag]==2023.6.0", "distributed==2023.6.0", "bokeh>=3.1,<3.5", "jinja2", "psutil", "numpy",
                   "scipy", "matplotlib", "click", "msgspec", "filelock"]


@nox.session(name="bench-scheduler")
@nox.parametrize("distributed", ["installed", "2023.6.0"])
def bench_scheduler(session: nox.Session, distributed: str) -> None:
    """Scheduler footprint, default vs trimmed (plus an A/A run), on today's distributed and on
    2023.6.0, before the rename: the recipe's situation and today's side by side."""
    if distributed == "installed":
        session.install(".")
    else:
        session.install(*OLD_DISTRIBUTED)
        session.install("--no-deps", ".")  # memreplay itself, without upgrading dask
    session.run("memreplay", "scheduler", *session.posargs)


@nox.session(name="bench-scheduler-ladder")
def bench_scheduler_ladder(session: nox.Session) -> None:
    """`memreplay scheduler --ladder`: the scheduler's memory for graphs of 10,000 to 60,000 tasks in
    three shapes under the default and trimmed presets, the largest held out and then run on
    workers (about 22 minutes on 2 cores; `-- --quick` 1,000 to 8,000 tasks)."""
    session.install(".")
    session.run("memreplay", "scheduler", "--ladder", *session.posargs)


@nox.session(name="bench-report")
def bench_report(session: nox.Session) -> None:
    """The report and compare at a million task rows: a small real run given a generated tasks.csv
    of 1,000,000 rows, twice; `memreplay report` and `memreplay compare` timed, with their peak RSS
    and page sizes (results/million-rows/)."""
    session.install(".")
    session.run("python", "-m", "memreplay.studies.million_rows", *session.posargs)


@nox.session
def trend(session: nox.Session) -> None:
    """`memreplay trend`: the asv benchmarks at HEAD in this environment, results under
    results/asv/, the site under results/asv-html/, opening offline. `-- --quick` runs each once."""
    session.install(".[asv]")
    session.run("memreplay", "trend", *session.posargs)


@nox.session
def asv(session: nox.Session) -> None:
    """The name of `nox -s trend` before 0.2.0, kept for one release."""
    trend(session)


@nox.session
def regression(session: nox.Session) -> None:
    """The memory regression gate: `nox -s regression -- BASE [HEAD]` builds both commits in
    clean virtualenvs (asv continuous) and exits 1 when a gated figure regressed."""
    session.install(".[asv]")
    session.run("memreplay", "regression", *session.posargs)


@nox.session(name="regression-proof")
def regression_proof(session: nox.Session) -> None:
    """The gate, proven on a throwaway copy of the project: a 20 % regression caught, its revert
    passed, an A/A pair passed three times (proofs/; outputs under results/regression-proof/)."""
    session.install(".[asv]", "pytest>=9.0", "pytest-timeout>=2.3")
    session.run("pytest", "proofs", "-p", "no:cacheprovider", "--timeout", "2400", "-v", *session.posargs)


@nox.session(name="bench-micro")
def bench_micro(session: nox.Session) -> None:
    """pytest-benchmark timings of the harness's hot paths (one task boundary of the probe, a CSV
    row, corpus generation, .prof parsing, each task function), saved under results/micro/.
    Compare with a saved run: `nox -s bench-micro -- --benchmark-compare=0001
    --benchmark-compare-fail=mean:10%`."""
    session.install(".[bench]")
    session.run("pytest", "benchmarks/micro", "-p", "no:xdist", "--benchmark-only",
                "--benchmark-storage=results/micro", "--benchmark-autosave",
                "--benchmark-json=results/micro/latest.json", *session.posargs)
