"""memreplay as its users install it: ``python -m build`` makes an sdist and a wheel whose only
import name is ``memreplay``, carrying the configs its commands default to; the wheel, installed
into a fresh virtualenv outside the checkout, runs ``memreplay list``, ``run``, ``record`` (and
its replay) of a two-worker pipeline, and the scheduler preload, from an empty directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from memreplay.plan.matrix import load_matrix
from memreplay.plan.packaged import matrix_path, packaged_config, shipped_matrices
from memreplay.records.task_rows import read_task_rows
from memreplay.version import __version__
from memreplay.workloads.trace import TraceCluster, index_trace
from tests.helpers.ports import free_port
from tests.helpers.project_copy import ROOT, copy_project

pytestmark = pytest.mark.slow

# A pipeline of a user's own, outside any checkout: two workers, a bag of word counts.
PIPELINE = """
import sys
import dask.bag as db
from distributed import Client, LocalCluster

if __name__ == "__main__":
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None) as cluster, \\
            Client(cluster):
        words = db.from_sequence([f"w{i % 97} w{i % 13}" for i in range(4000)], npartitions=8)
        counts = words.map(str.split).flatten().frequencies().compute()
        assert sum(n for _, n in counts) == 8000, counts
"""

# A client of a scheduler started with ``--preload memreplay.memusage``.
PRELOAD_CLIENT = """
import sys
from distributed import Client

def hold(megabytes):
    block = bytearray(megabytes * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    return len(block)

with Client(sys.argv[1], timeout=60) as client:
    client.wait_for_workers(1, timeout=60)
    assert client.gather([client.submit(hold, 40, key=f"hold-{i}") for i in range(3)]) == [40 * 2**20] * 3
"""


def test_every_package_folder_is_listed_for_setuptools() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {"memreplay": ROOT / "harness", "memreplay.workloads": ROOT / "workloads",
               "memreplay.corpora": ROOT / "corpora", "memreplay.configs": ROOT / "configs"}
    assert setuptools["package-dir"] == {name: str(path.relative_to(ROOT)) for name, path in folders.items()}
    found = set()
    for name, top in folders.items():
        for folder in [top, *(path for path in top.rglob("*") if path.is_dir() and path.name != "__pycache__")]:
            found.add(".".join([name, *folder.relative_to(top).parts]))  # code or data: each folder a package
    assert sorted(setuptools["packages"]) == sorted(found)


def test_the_shipped_matrices_are_found_from_any_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no configs/ here
    assert {"default", "asv", "scheduler-presets"} <= set(shipped_matrices())
    assert matrix_path("default") == packaged_config("default.toml")
    matrix = load_matrix(packaged_config("default.toml"), quick=True)  # what `memreplay bench --quick` runs
    assert matrix.cases and {case.config.scheduler_preset for case in matrix.cases} == {"default"}
    presets = load_matrix(matrix_path("scheduler-presets"))  # its presets, beside it in the package
    assert {case.config.scheduler_preset for case in presets.cases} == {"default", "trimmed"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``python -m build`` of a copy of the project: its sdist and its wheel."""
    tmp = tmp_path_factory.mktemp("build")
    source, dist = tmp / "source", tmp / "dist"
    source.mkdir()
    copy_project(source)
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,), (wheel,) = dist.glob("*.tar.gz"), dist.glob("*.whl")
    return sdist, wheel


def test_the_wheel_holds_one_import_name_and_the_configs(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    assert wheel.name == f"memreplay-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert {name.split("/")[0] for name in names} == {"memreplay", f"memreplay-{__version__}.dist-info"}
    for shipped in ("memreplay/configs/default.toml", "memreplay/configs/asv.toml",
                    "memreplay/configs/scheduler-presets.toml", "memreplay/configs/scheduler/trimmed.toml",
                    "memreplay/report/templates/page.html.j2", "memreplay/memusage.py",
                    "memreplay/workloads/wordcount.py", "memreplay/corpora/text.py"):
        assert shipped in names
    metadata = zipfile.ZipFile(wheel).read(f"memreplay-{__version__}.dist-info/METADATA").decode()
    for line in ("License-Expression: BSD-3-Clause", "Classifier: Framework :: Dask",
                 "Requires-Dist: distributed>=2024.4.2", "Description-Content-Type: text/markdown"):
        assert line in metadata, line
    with tarfile.open(sdist) as tar:
        members = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    # the package, and what tests and documents it: an sdist alone runs `nox -s tests` and `nox -s docs`
    assert {"LICENSE", "pyproject.toml", "configs/default.toml", "harness/memusage.py", "noxfile.py", "mkdocs.yml",
            "docs/changelog.md", "docs/how-to/install.md", "tests/conftest.py", "tests/helpers/cli.py",
            "tests/data/schema7/sweep/run.json", "benchmarks/benchmarks.py"} <= members
    assert not any(name.startswith("results/runs") or "__pycache__" in name for name in members)


@pytest.fixture(scope="module")
def installed(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the checkout with the wheel in it. Its dependencies are this
    interpreter's (a .pth line, so nothing is downloaded); memreplay itself is only the wheel's."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the `dask` command that installing the dependencies would have put beside the interpreter
    dask = venv / "bin" / "dask"
    dask.write_text(f"#!{python}\nimport sys\nfrom dask.__main__ import main\nsys.exit(main())\n")
    dask.chmod(0o755)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                           "--quiet", str(built[1])], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # only then the dependencies: pip would take a memreplay installed among them for the wheel's
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "dependencies.pth").write_text("".join(f"{path}\n" for path in paths))
    check = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "check"],
                           capture_output=True, text=True, timeout=120)
    assert "memreplay" not in check.stdout, check.stdout  # its requirements are met by what is there
    return venv


def _user_environment(venv: Path) -> dict[str, str]:
    """A user's shell with the fresh virtualenv first on PATH: no checkout on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}


def _in_empty_directory(venv: Path, where: Path, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    where.mkdir(exist_ok=True)
    return subprocess.run(list(command), cwd=where, env=_user_environment(venv), capture_output=True, text=True,
                          timeout=timeout)


def test_the_installed_wheel_lists_and_runs_from_an_empty_directory(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    where = _in_empty_directory(installed, empty, "python", "-c",
                                "import memreplay, memreplay.memusage; print(memreplay.__file__)\n"
                                "import importlib.util as u; print([u.find_spec(n) for n in "
                                "('harness', 'workloads', 'corpora')])")
    assert where.returncode == 0, where.stderr
    assert where.stdout.splitlines() == [str(installed / next(installed.glob("lib/python*/site-packages")).relative_to(
        installed) / "memreplay" / "__init__.py"), "[None, None, None]"]
    version = _in_empty_directory(installed, empty, "memreplay", "--version")
    assert version.stdout.strip() == f"memreplay {__version__}"
    listed = _in_empty_directory(installed, empty, "memreplay", "list")
    assert listed.returncode == 0 and "wordcount-naive" in listed.stdout, listed.stderr
    run = _in_empty_directory(installed, empty, "memreplay", "run", "wordcount-naive", "--workers", "2",
                              "--memory-limit", "1GiB", "--scale", "0.02")
    assert run.returncode == 0, run.stdout + run.stderr
    (record,) = (empty / "results" / "runs").glob("*/run.json")
    assert json.loads(record.read_text())["cases"][0]["outcome"] == "ok"
    # the example catalog is in the wheel: a plan from it, kept beside the run
    plan = _in_empty_directory(installed, empty, "memreplay", "plan", str(record.parent), "--machines", "example",
                               "--input", "2x")
    assert plan.returncode == 0 and "Rollout plan" in plan.stdout, plan.stdout + plan.stderr
    assert (record.parent / "plan.json").is_file()
    assert sorted(path.name for path in empty.iterdir()) == ["results"]  # nothing else written here


def test_the_installed_wheel_records_a_pipeline_and_replays_it(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "my_pipeline.py").write_text(PIPELINE)
    recorded = _in_empty_directory(installed, empty, "memreplay", "record", "--", "python", "my_pipeline.py")
    assert recorded.returncode == 0 and "outcome ok" in recorded.stdout, recorded.stdout + recorded.stderr
    trace = index_trace(empty / "trace.json")
    assert trace.header.cluster == TraceCluster(2, 1, 2**30) and trace.end.outcome == "ok" and trace.tasks > 8
    replayed = _in_empty_directory(installed, empty, "memreplay", "run", "replay:trace.json")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    (record,) = (empty / "results" / "runs").glob("*/run.json")
    assert json.loads(record.read_text())["cases"][0]["outcome"] == "ok"


def test_the_installed_wheels_preload_measures_every_task(installed: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "client.py").write_text(PRELOAD_CLIENT)
    address = f"tcp://127.0.0.1:{free_port()}"
    env = _user_environment(installed)
    python = str(installed / "bin" / "python")
    scheduler = subprocess.Popen([python, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port",
                                  address.rsplit(":", 1)[1], "--no-dashboard", "--preload", "memreplay.memusage",
                                  "--memusage-csv", "memusage.csv"], cwd=empty, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([python, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                               "--no-dashboard", "--memory-limit", "1GiB"], cwd=empty, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = _in_empty_directory(installed, empty, "python", "client.py", address)
        assert client.returncode == 0, client.stderr
        time.sleep(0.5)  # the last task's row reaches the CSV
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)
    assert (empty / "memusage.csv").read_text().startswith("task_key,min_memory_mb,max_memory_mb")
    peaks = {row.task_key: row.peak_increase_bytes for row in read_task_rows(empty / "memusage.csv")}
    assert {"hold-0", "hold-1", "hold-2"} <= set(peaks)
    assert all(abs(peaks[f"hold-{i}"] - 40 * 2**20) <= 2**20 for i in range(3)), peaks
