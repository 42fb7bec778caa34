"""``memreplay trend`` (``nox -s asv``): the asv benchmarks at HEAD in the current environment,
results kept under ``results/asv/``, the site published to ``results/asv-html/`` with its
scripts beside it, so that it opens offline."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from memreplay.errors import UserError
from memreplay.trend.asv_project import AsvProject, run_asv
from memreplay.trend.site import vendor_assets

__all__ = ["NPM_CACHE", "Published", "publish_trend"]

# the site's scripts, fetched once per machine rather than once per checkout
NPM_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memreplay" / "npm"


@dataclass(frozen=True)
class Published:
    commit: str
    results: Path  # this commit's asv results file
    site: Path  # the published site's index.html


def _on_a_branch(project: AsvProject, commit: str) -> None:
    """asv publish leaves out commits on none of its branches: refuse before measuring."""
    branches = project.config.get("branches") or ["main"]
    for branch in branches:
        if subprocess.run(["git", "-C", str(project.root), "merge-base", "--is-ancestor", commit, branch],
                          capture_output=True).returncode == 0:
            return
    raise UserError(f"HEAD ({commit[:8]}) is on none of asv.conf.json's branches ({', '.join(branches)}): "
                    "asv publish would leave it out; merge it, or run on such a branch")


def publish_trend(root: Path, machine: str, quick: bool = False) -> Published:
    project = AsvProject.at(root)
    commit = project.commit("HEAD", "HEAD")
    _on_a_branch(project, commit)
    project.ensure_machine(machine)
    results, html = project.path("results_dir"), project.path("html_dir")
    # asv sets ASV_COMMIT for commits it builds, not for the current environment; the
    # benchmarks name their run records after it
    run_asv(["run", "--environment", "existing:same", "--set-commit-hash", commit, "--machine", machine,
             "--show-stderr", *(["--quick"] if quick else [])], root, env={"ASV_COMMIT": commit})
    filed = project.name_current_environment(results, machine, commit)
    run_asv(["publish"], root)
    vendor_assets(html, NPM_CACHE)
    return Published(commit, filed, html / "index.html")
