"""The regression gate's proof (``nox -s regression-proof``; about 15 minutes on 2 cores).

A temporary git repository holds a copy of this project, with four more commits on top:

    A ── A again (no change) ── inject (+20 % at imagechunks-lean's peak) ── revert

and ``memreplay regression`` (asv continuous in clean virtualenvs, then the threshold and the
floor) must fail A → inject, pass inject → revert, and pass the A/A pair three times in a row.
Every gate's output is kept under ``results/regression-proof/``; the A/A differences it prints
are where the gate's floor comes from (docs/figures.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.project_copy import ROOT, copy_project, git

OUT = ROOT / "results" / "regression-proof"
LEAN = "workloads/imagechunks.py"
LOADED = "    image = np.load(path).astype(np.float32)\n"
# float32 ones, 1.2 times the image (every page written, so all of it is resident), alive until
# the task returns: 20 % of the task's peak increase (6 times the float32 image) at any scale
INJECTED = LOADED + "    held = np.ones(int(image.size * 1.2), dtype=np.float32)  # injected regression\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    path = tmp_path_factory.mktemp("gate") / "memreplay"
    commits: dict[str, Path | str] = {"path": path, "A": copy_project(path)}
    git(path, "commit", "-q", "--allow-empty", "-m", "A again")
    commits["A again"] = git(path, "rev-parse", "HEAD")
    source = (path / LEAN).read_text()
    assert source.count(LOADED) == 1, f"{LEAN} changed: the injection point is gone"
    (path / LEAN).write_text(source.replace(LOADED, INJECTED))
    git(path, "commit", "-q", "-am", "inject: imagechunks-lean holds 20 % more at its peak")
    commits["inject"] = git(path, "rev-parse", "HEAD")
    git(path, "revert", "--no-edit", "HEAD")
    commits["revert"] = git(path, "rev-parse", "HEAD")
    return commits


def _gate(repo: dict[str, Path | str], base: str, head: str, name: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "memreplay.cli", "regression", str(repo[base]), str(repo[head])],
                          cwd=repo["path"], capture_output=True, text=True,
                          env={**os.environ, "MEMREPLAY_ASV_MACHINE": "memreplay-proof"})
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.txt").write_text(f"$ memreplay regression {base} {head}\nexit {done.returncode}\n\n"
                                     f"{done.stdout}\n--- stderr ---\n{done.stderr}")
    print(done.stdout)
    return done


def test_a_20_percent_regression_is_caught(repo: dict[str, Path | str]) -> None:
    done = _gate(repo, "A", "inject", "1-inject")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "memory regression gate: REGRESSED" in done.stdout
    regressed = [line for line in done.stdout.splitlines() if line.rstrip().endswith(" regressed")]
    assert regressed and all(line.split()[0] == "imagechunks-lean" for line in regressed), regressed


def test_its_revert_passes(repo: dict[str, Path | str]) -> None:
    done = _gate(repo, "inject", "revert", "2-revert")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "memory regression gate: passed" in done.stdout


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_an_a_a_pair_passes(repo: dict[str, Path | str], attempt: int) -> None:
    done = _gate(repo, "A", "A again", f"3-a-a-{attempt}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "memory regression gate: passed" in done.stdout
