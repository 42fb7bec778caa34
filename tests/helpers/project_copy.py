"""A throwaway git repository holding a copy of this project (tracked and new files, as they
are in the working tree), for tests and proofs that run asv against commits of their own."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def copy_project(repo: Path, branch: str = "main") -> str:
    """Copy the project into ``repo``, commit it on ``branch``; return the commit's hash."""
    listed = git(ROOT, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git(repo, "init", "-q", "-b", branch)
    git(repo, "config", "user.email", "tests@memreplay.invalid")
    git(repo, "config", "user.name", "memreplay tests")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "A")
    return git(repo, "rev-parse", "HEAD")
