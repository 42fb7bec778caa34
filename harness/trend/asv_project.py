"""asv, as memreplay drives it: its command line in a subprocess (the stable interface), its
machine name, and its results files (format version 2), read and, for runs in the current
environment, renamed so that series do not depend on where the virtualenv lives. Every
assumption about asv's files is here, and fails loudly when asv moves."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from memreplay.errors import UserError
from memreplay.records.atomic import atomic_write_text

__all__ = ["AsvProject", "DEFAULT_MACHINE", "RESULTS_FORMAT", "run_asv", "series_versions"]

RESULTS_FORMAT = 2  # asv 0.6's results files
# asv's default machine name is the hostname, which changes with every CI runner: one fixed
# name per class of machine keeps one series. Set MEMREPLAY_ASV_MACHINE (or --machine) per class.
DEFAULT_MACHINE = os.environ.get("MEMREPLAY_ASV_MACHINE", "memreplay-ci")


def series_versions() -> dict[str, str]:
    """The versions that are axes of every series (asv.conf.json's matrix)."""
    versions = {}
    for name in ("dask", "distributed"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - memreplay depends on both
            raise UserError(f"{name} is not installed") from None
    return versions


def run_asv(args: list[str], cwd: Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    """``asv ARGS`` with this interpreter's asv, output passed through. A failure that is not
    a benchmark result (exit code other than 0 and 1) stops memreplay with one line."""
    try:
        import asv  # noqa: F401  (present in the sessions that need it: the `asv` extra)
    except ImportError:
        raise UserError("asv is not installed: pip install 'memreplay[asv]' (or use nox -s asv)") from None
    code = subprocess.run([sys.executable, "-m", "asv", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}).returncode
    if check and code not in (0, 1):
        raise UserError(f"asv {args[0]} failed with exit code {code} (its output is above)")
    return code


@dataclass(frozen=True)
class AsvProject:
    """A memreplay checkout with its ``asv.conf.json``."""

    root: Path
    config: dict[str, Any]

    @classmethod
    def at(cls, root: Path) -> AsvProject:
        path = root / "asv.conf.json"
        try:
            from asv.util import load_json  # asv.conf.json has comments
        except ImportError:
            raise UserError("asv is not installed: pip install 'memreplay[asv]' (or use nox -s asv)") from None
        if not path.is_file():
            raise UserError(f"{path}: not found; run from a memreplay checkout")
        if not (root / ".git").exists():
            raise UserError(f"{root}: not a git checkout; asv needs the history")
        try:
            return cls(root.resolve(), load_json(str(path), js_comments=True))
        except Exception as error:  # asv raises its own UserError or a JSON error
            raise UserError(f"{path}: {error}") from None

    def path(self, key: str) -> Path:
        return self.root / self.config[key]

    def commit(self, name: str, what: str) -> str:
        """The full hash of a commit name (branch, tag, hash, HEAD~1)."""
        done = subprocess.run(["git", "-C", str(self.root), "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise UserError(f"{what}: {name!r} is not a commit of {self.root}")
        return done.stdout.strip()

    def ensure_machine(self, machine: str) -> None:
        """asv refuses to run without the machine described; describe it with asv's defaults."""
        run_asv(["machine", "--machine", machine, "--yes"], self.root)

    def results_files(self, results_dir: Path, machine: str, commit: str) -> list[Path]:
        return sorted((results_dir / machine).glob(f"{commit[:8]}-*.json"))

    def read_results(self, results_dir: Path, machine: str, commit: str) -> dict[str, dict[tuple[str, ...], float]]:
        """Benchmark → parameter combination → value, for one commit (every environment file)."""
        values: dict[str, dict[tuple[str, ...], float]] = {}
        for path in self.results_files(results_dir, machine, commit):
            data = _load(path)
            columns = data["result_columns"]
            for name, row in data["results"].items():
                cells = dict(zip(columns, row))
                result, params = cells["result"], cells.get("params") or []
                combos = _combinations([[_unquote(p) for p in axis] for axis in params])
                for combo, value in zip(combos, result if params else [result]):
                    values.setdefault(name, {})[combo] = float("nan") if value is None else float(value)
        return values

    def name_current_environment(self, results_dir: Path, machine: str, commit: str) -> Path:
        """A run in the current environment (``existing``) is filed under the interpreter's path;
        rename it after what matters to a series: Python and the dask/distributed versions."""
        existing = [p for p in self.results_files(results_dir, machine, commit) if "-existing-py" in p.name]
        if len(existing) != 1:
            raise UserError(f"{results_dir / machine}: expected one result of commit {commit[:8]} in the "
                            f"current environment, found {len(existing)}")
        data = _load(existing[0])
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
        versions = series_versions()
        env_name = "-".join(["existing", f"py{python}", *(f"{k}{v}" for k, v in versions.items())])
        data.update(env_name=env_name, python=python, requirements=versions,
                    params={**data["params"], "python": python, **versions})
        target = existing[0].with_name(f"{commit[:8]}-{env_name}.json")
        atomic_write_text(target, json.dumps(data, indent=1))
        if target != existing[0]:
            existing[0].unlink()
        return target


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: not an asv results file ({error})") from None
    if not isinstance(data, dict) or data.get("version") != RESULTS_FORMAT or "result_columns" not in data:
        found = data.get("version") if isinstance(data, dict) else None
        raise UserError(f"{path}: asv results format {found!r}, memreplay reads {RESULTS_FORMAT} (asv changed?)")
    return data


def _unquote(param: str) -> str:
    return param[1:-1] if len(param) >= 2 and param[0] == param[-1] and param[0] in "'\"" else param


def _combinations(axes: list[list[str]]) -> list[tuple[str, ...]]:
    """asv stores a parameterised result flat, in the order of itertools.product of the axes."""
    return list(itertools.product(*axes))
