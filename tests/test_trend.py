"""CI around asv, for real: `memreplay trend --quick` runs the asv benchmarks (tiny matrix) in
a throwaway copy of the project, publishes the site with its scripts vendored from the npm
registry, and headless Chromium (Debian's package, through playwright) opens it with every
request off loopback blocked. The gate's rule and its refusals are tested here too; the gate
itself, end to end, is `nox -s regression-proof` (proofs/)."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from memreplay.analysis.regression import GateRule, compare_figures, regressed
from memreplay.errors import UserError
from memreplay.trend import site
from memreplay.trend.asv_project import AsvProject
from memreplay.trend.publish import NPM_CACHE
from tests.helpers.browser import offline_page, served
from tests.helpers.cli import TEST_SCALE
from tests.helpers.project_copy import copy_project, git

TINY = f"""
[matrix]
workloads = ["wordcount-naive", "imagechunks-lean"]
shapes = [[1, 1], [1, 2]]
memory_limits = ["2GiB"]
scale = {TEST_SCALE}
timeout_s = 120
size_ladder = false
"""
MACHINE = "memreplay-test"
GRAPH = "benchmarks.Cases.track_largest_peak_increase"
MIB = 2**20


def _memreplay(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "memreplay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """`memreplay trend --quick` in a copy of the project: asv runs every benchmark once."""
    base = tmp_path_factory.mktemp("trend")
    repo = base / "memreplay"
    copy_project(repo)
    commit = _launched_by_forkserver(repo)
    (base / "tiny.toml").write_text(TINY)
    (base / "tmp").mkdir()
    done = _memreplay(repo, "trend", "--quick", "--machine", MACHINE,
                      env={"MEMREPLAY_ASV_MATRIX": str(base / "tiny.toml"), "MEMREPLAY_ASV_TRANSITIONS": "2000",
                           "MEMREPLAY_RESULTS": str(base / "records"), "TMPDIR": str(base / "tmp")})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"repo": repo, "commit": commit, "records": base / "records", "stdout": done.stdout, "tmp": base / "tmp"}


def _launched_by_forkserver(repo: Path) -> str:
    """asv starts a fresh interpreter for each benchmark and parameter (48 here) unless told to
    fork them from one that imported the suite once: the figures are the same, 45 s sooner.
    The copy's commit is amended so that its tree stays clean; returns the commit's hash."""
    conf = repo / "asv.conf.json"
    text = conf.read_text()
    if '"launch_method"' not in text:
        conf.write_text(text.replace('"benchmark_dir":', '"launch_method": "forkserver",\n    "benchmark_dir":', 1))
        git(repo, "commit", "-q", "--amend", "-a", "--no-edit")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture(scope="module")
def served_site(published: dict[str, object]) -> Iterator[str]:
    """The published site on loopback."""
    with served(Path(published["repo"]) / "results" / "asv-html") as url:  # type: ignore[arg-type]
        yield url


@pytest.mark.slow
def test_results_are_filed_without_the_interpreter_path(published: dict[str, object]) -> None:
    repo, commit = Path(published["repo"]), str(published["commit"])  # type: ignore[arg-type]
    files = sorted((repo / "results" / "asv" / MACHINE).glob(f"{commit[:8]}-*.json"))
    env_name = f"existing-py3.11-dask{_v('dask')}-distributed{_v('distributed')}"
    assert [f.name for f in files] == [f"{commit[:8]}-{env_name}.json"]
    data = json.loads(files[0].read_text())
    assert data["params"]["python"] == "3.11" and data["params"]["distributed"] == _v("distributed")
    assert str(repo) not in files[0].read_text() and sys.executable not in files[0].read_text()
    figures = AsvProject.at(repo).read_results(repo / "results" / "asv", MACHINE, commit)
    peaks = figures[GRAPH]
    assert peaks[("wordcount-naive", "1x1")] > MIB and peaks[("imagechunks-lean", "1x1")] > MIB
    assert math.isnan(peaks[("imagechunks", "1x1")])  # not in the tiny matrix: missing, not zero
    for workload in ("wordcount-naive", "imagechunks-lean"):
        footprint = figures["benchmarks.Cases.track_worker_footprint"][(workload, "1x1")]
        assert 20 * MIB < footprint < 2**30
        assert figures["benchmarks.Cases.track_worker_peak_rss"][(workload, "1x1")] > footprint
        assert figures["benchmarks.Cases.track_wall_time"][(workload, "1x2")] > 0
    assert figures["benchmarks.Profiles.track_fil_peak"][("imagechunks-lean",)] > MIB
    default, trimmed = (figures["benchmarks.Scheduler.track_structure_bytes"][(p,)] for p in ("default", "trimmed"))
    assert trimmed < default
    # each part's run record is named after the commit it measured
    runs = sorted(p.name for p in (Path(published["records"]) / "runs").iterdir())  # type: ignore[arg-type]
    assert [r.split("-")[2] for r in runs] == ["cases", "profiles", "scheduler"]
    assert all(f"-{commit[:8]}-" in r for r in runs)
    assert not list(Path(published["tmp"]).glob("memreplay-asv-*"))  # scratch corpora removed  # type: ignore[arg-type]


def _v(name: str) -> str:
    from importlib.metadata import version
    return version(name)


@pytest.mark.slow
def test_the_site_renders_offline_in_chromium(served_site: str, tmp_path: Path) -> None:
    with offline_page(served_site) as seen:
        page = seen.page
        page.goto(served_site)
        page.wait_for_selector(".benchmark-container, #summarygrid-display", timeout=20_000)
        page.goto(f"{served_site}#{GRAPH}")
        page.wait_for_selector("#main-graph canvas.flot-base", timeout=20_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "graph.png"))
        drawn = page.evaluate("""() => [...document.querySelectorAll('#main-graph canvas.flot-base')].map(c => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })""")
        headings = page.locator(".panel-heading").all_inner_texts()
        buttons = page.locator(".btn-group button, .btn-group label, .btn-group a").all_inner_texts()
        legend = page.locator(".legend").all_inner_texts()
        url = page.url
    assert seen.errors == [] and seen.blocked == []
    assert "error.html" not in url  # asv's page for scripts that did not load
    assert drawn and max(drawn) > 1000  # a graph canvas with something drawn on it
    assert {"workload", "shape", "machine"} <= {h.strip() for h in headings}
    assert {"wordcount-naive", "imagechunks-lean", "1x1", "1x2"} <= {b.strip() for b in buttons}
    assert "imagechunks-lean" in " ".join(legend)


@pytest.mark.slow
def test_every_cdn_address_is_vendored(published: dict[str, object]) -> None:
    html = Path(published["repo"]) / "results" / "asv-html"  # type: ignore[arg-type]
    page = (html / "index.html").read_text()
    assert "cdn" not in page and 'src="https://' not in page and 'href="https://cdn' not in page
    assert (html / "vendor" / "bootstrap" / "fonts" / "glyphicons-halflings-regular.woff").exists()


def test_vendoring_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script src="https://cdn.example/new-lib.js"></script>')
    with pytest.raises(UserError, match=r"index.html: loads https://cdn.example/new-lib.js, which memreplay"):
        site.vendor_assets(tmp_path, NPM_CACHE)
    with pytest.raises(UserError, match="was the site published"):
        site.vendor_assets(tmp_path / "nothing", NPM_CACHE)


@pytest.mark.slow
def test_a_tampered_cached_tarball_is_fetched_again(published: dict[str, object], tmp_path: Path) -> None:
    package = site.PACKAGES["blueimp-md5@2.19.0"]
    cache = tmp_path / "npm"
    cache.mkdir()
    shutil.copy(NPM_CACHE / package.tarball, cache / package.tarball)
    with open(cache / package.tarball, "ab") as tarball:
        tarball.write(b"tampered")
    fetched = site._fetch(package, cache)
    assert site._integrity(fetched) == package.integrity


def test_the_gate_rule_needs_both_the_ratio_and_the_floor() -> None:
    rule = GateRule(threshold=0.10, floor=2 * MIB)
    base = {("big", "1x1"): 100 * MIB, ("small", "1x1"): 2 * MIB, ("gone", "1x1"): 5 * MIB, ("nan", "1x1"): MIB}
    head = {("big", "1x1"): 121 * MIB, ("small", "1x1"): 3.9 * MIB, ("new", "1x1"): 5 * MIB,
            ("nan", "1x1"): float("nan")}
    verdicts = {c.key[0]: c.verdict for c in compare_figures(base, head, rule)}
    assert verdicts == {"big": "regressed", "small": "worse, within the gate", "gone": "missing",
                        "nan": "missing", "new": "missing"}
    assert not regressed(compare_figures({("a",): 100 * MIB}, {("a",): 109 * MIB}, rule))  # under 10 %
    assert regressed(compare_figures({("a",): 100 * MIB}, {("a",): 111 * MIB}, rule))
    assert not regressed(compare_figures({("a",): 10 * MIB}, {("a",): 11.9 * MIB}, rule))  # 19 %, under the floor
    assert [c.verdict for c in compare_figures({("a",): 5.0}, {("a",): 4.0}, rule)] == ["better"]


@pytest.mark.parametrize(("args", "message"), [
    (["regression", "no-such-commit"], "BASE: 'no-such-commit' is not a commit of"),
    (["regression", "HEAD", "nope"], "HEAD: 'nope' is not a commit of"),
    (["regression", "HEAD", "--threshold", "nan"], "--threshold must be a positive percentage, got nan"),
    (["regression", "HEAD", "--threshold", "0"], "--threshold must be a positive percentage, got 0.0"),
    (["regression", "HEAD", "--floor", "lots"], "--floor: 'lots' is not a size"),
])
def test_gate_refusals_are_one_line(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str],
                                    message: str) -> None:
    copy_project(tmp_path)
    monkeypatch.chdir(tmp_path)  # the checkout memreplay is run in
    done = cli(*args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr


def test_trend_outside_a_checkout_or_off_its_branches_is_refused(cli, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    done = cli("trend")
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "asv.conf.json: not found" in done.stderr
    copy_project(tmp_path / "repo", branch="feature")
    monkeypatch.chdir(tmp_path / "repo")
    done = cli("trend")
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "is on none of asv.conf.json's branches (main)" in done.stderr
    assert not (tmp_path / "repo" / "results" / "asv").exists()  # refused before anything ran


def test_a_results_file_of_another_format_is_one_line(tmp_path: Path) -> None:
    commit = copy_project(tmp_path)
    machine = tmp_path / "results" / "asv" / MACHINE
    machine.mkdir(parents=True)
    (machine / f"{commit[:8]}-existing-py_x.json").write_text(json.dumps({"version": 1, "results": {}}))
    with pytest.raises(UserError, match=r"asv results format 1, memreplay reads 2 \(asv changed\?\)"):
        AsvProject.at(tmp_path).read_results(tmp_path / "results" / "asv", MACHINE, commit)
    git(tmp_path, "status")  # still a repository
