"""Profiles of one task function, alone, in subprocesses of its own: Fil's peak tracked
allocations (which lines hold the memory at the peak) beside memory_profiler's RSS line by line
(what the process held after each line). They answer different questions: Fil counts
allocations at the single moment of the peak, with BLAS/OpenMP pools forced to one thread;
memory_profiler reads RSS after each line, so a line that allocates and frees within itself
shows no increment. Neither figure is mixed with the RSS figures of ``tasks.csv``.
"""

from __future__ import annotations

import linecache
import re
import socket
import sys
import sysconfig
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import msgspec

from memreplay.analysis.task_summary import largest_task
from memreplay.corpora import Corpus, CorpusFile, ensure_corpus
from memreplay.plan.sizes import check_scale, check_seconds
from memreplay.records.schema import LineRss, ProfileRecord, ProfileSettings, TaskProfile, TopLine
from memreplay.records.store import RunDirectory, new_record_fields
from memreplay.records.task_rows import TaskRow
from memreplay.studies.profile_target import SOURCE_MARKER, run_target
from memreplay.workloads import resolve_workload

__all__ = ["FIL_OUTPUTS", "choose_input", "parse_folded_stacks", "profile_task", "profile_workloads",
           "svg_peak_bytes", "top_lines"]

FIL_OUTPUTS = ("peak-memory.prof", "peak-memory.svg", "peak-memory-reversed.svg", "index.html")
FIL_FIGURE = "tracked allocations at peak (Fil; thread pools forced to one thread)"
_SVG_TITLE = re.compile(r"Peak Tracked Memory Usage \(([\d.]+) MiB\)")
_FRAME = re.compile(r"^(?P<file>.*):(?P<line>\d+) \((?P<function>.*)\)$")
_STDLIB = sysconfig.get_paths()["stdlib"]  # looked up once: it was most of the time of parsing a .prof


def _fil_command() -> str:
    return str(Path(sys.executable).with_name("fil-profile"))


def parse_folded_stacks(prof: Path) -> list[tuple[list[str], int]]:
    """Fil's ``peak-memory.prof``: one ``frame;frame;… BYTES`` line per stack."""
    stacks = []
    for line in prof.read_text().splitlines():
        frames, _, size = line.rpartition(" ")
        if frames and size.isdigit():
            stacks.append((frames.split(";"), int(size)))
    return stacks


def svg_peak_bytes(svg: Path) -> int | None:
    match = _SVG_TITLE.search(svg.read_text())
    return None if match is None else round(float(match.group(1)) * 2**20)


def top_lines(stacks: list[tuple[list[str], int]], focus: str | None = None, count: int = 5) -> list[TopLine]:
    """The source lines holding the most memory at the peak. Each stack's bytes go to its
    innermost frame in ``focus`` (the workload's own source directory), else its innermost
    frame outside Python's standard library, else its innermost frame."""
    total = sum(size for _, size in stacks) or 1
    by_line: dict[tuple[str, int, str], int] = defaultdict(int)
    for frames, size in stacks:
        frame = _attributed_frame(frames, focus)
        if frame is not None:
            by_line[frame] += size
    ranked = sorted(by_line.items(), key=lambda item: item[1], reverse=True)[:count]
    return [
        TopLine(file=file, line=line, function=function, code=linecache.getline(file, line).strip(),
                bytes=size, percent=round(100 * size / total, 1))
        for (file, line, function), size in ranked
    ]


def _attributed_frame(frames: list[str], focus: str | None) -> tuple[str, int, str] | None:
    parsed = [(m["file"], int(m["line"]), m["function"]) for m in (_FRAME.match(f) for f in frames) if m]
    if not parsed:
        return None
    stdlib = _STDLIB
    preferences = (
        lambda file: focus is not None and file.startswith(focus),
        lambda file: not file.startswith(("<", stdlib)),
    )
    for preferred in preferences:
        for frame in reversed(parsed):
            if preferred(frame[0]):
                return frame
    return parsed[-1]


def _source_directory(stdout: str) -> str | None:
    """The directory of the task function's code, as the profiled process reported it."""
    for line in stdout.splitlines():
        if line.startswith(SOURCE_MARKER):
            return line.removeprefix(SOURCE_MARKER).strip()
    return None


def _line_rss(workload: str, input_path: Path, out_dir: Path,
              timeout: float) -> tuple[list[LineRss] | None, str | None]:
    out_json = out_dir / "line-rss.json"
    command = [sys.executable, "-m", "memreplay.studies.profile_target", "lines", workload, str(input_path),
               str(out_json)]
    done = run_target(command, out_dir, timeout)
    if isinstance(done, str):
        return None, done
    return msgspec.json.decode(out_json.read_bytes(), type=list[LineRss]), None


def profile_task(workload: str, input_path: Path, out_dir: Path, timeout: float = 600) -> TaskProfile:
    """Profile ``workload``'s task function on ``input_path`` under Fil, then under
    memory_profiler. Never raises for the profilers' failures: they are the profile's
    ``failed`` or ``skipped`` outcome (or ``line_rss_error``) with the reason."""
    out_dir, input_path = out_dir.resolve(), input_path.resolve()  # the subprocesses run in out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    profile = TaskProfile(workload=workload, host=socket.gethostname(), input=str(input_path),
                          input_bytes=input_path.stat().st_size, figure=FIL_FIGURE, outcome="ok")
    result_dir = out_dir / "fil"
    command = [_fil_command(), "--no-browser", "python", "-m", "memreplay.studies.profile_target", "fil",
               workload, str(input_path), str(result_dir)]
    if not Path(command[0]).exists():
        profile.outcome, profile.reason = "skipped", "fil-profile is not installed"
        return profile
    # cwd: on a crash Fil writes a report of its own into ./fil-result; keep it with ours
    done = run_target(command, out_dir, timeout)
    if isinstance(done, str):
        profile.outcome, profile.reason = "failed", done
        return profile
    if not (result_dir / "peak-memory.prof").exists():
        profile.outcome, profile.reason = "failed", "Fil wrote no peak-memory.prof"
        return profile
    stacks = parse_folded_stacks(result_dir / "peak-memory.prof")
    profile.directory = str(result_dir)
    profile.outputs = [name for name in FIL_OUTPUTS if (result_dir / name).exists()]
    profile.peak_tracked_bytes = sum(size for _, size in stacks)
    profile.svg_title_bytes = svg_peak_bytes(result_dir / "peak-memory.svg")
    profile.top_lines = top_lines(stacks, focus=_source_directory(done.stdout))
    profile.line_rss, profile.line_rss_error = _line_rss(workload, input_path, out_dir, timeout)
    return profile


def choose_input(corpus: Corpus, rows: Iterable[TaskRow] = ()) -> CorpusFile:
    """The input to profile: the file of the task that peaked highest alone in its worker (its
    partition index names the corpus file), else the largest file."""
    hungriest = largest_task(rows, alone_only=True)
    if hungriest is not None and hungriest.partition is not None and hungriest.partition < len(corpus.files):
        return corpus.files[hungriest.partition]
    return max(corpus.files, key=lambda f: f.size)


def profile_workloads(references: list[str], scale: float, timeout: float, results: Path,
                      corpora: Path, run_label: str = "profile") -> RunDirectory[ProfileRecord]:
    """``memreplay profile``: each workload's task function on its largest input, side by side."""
    check_seconds(timeout, "--timeout")
    check_scale(scale, "--scale")
    workloads = [resolve_workload(reference) for reference in references]  # every name checked first
    corpus_by_kind = {w.corpus_kind: ensure_corpus(w.corpus_kind, scale, corpora) for w in workloads}  # first
    record = ProfileRecord(settings=ProfileSettings(scale=scale, timeout_s=timeout), **new_record_fields())
    run = RunDirectory.create(results, run_label, record)
    for workload in workloads:
        corpus = corpus_by_kind[workload.corpus_kind]
        chosen = choose_input(corpus)
        print(f"profiling {workload.name} on {chosen.name} under Fil and memory_profiler ...", file=sys.stderr)
        run.record.profiles.append(profile_task(workload.name, corpus.path(chosen),
                                                run.case_directory(f"profile-{workload.slug}"), timeout=timeout))
        run.save()
    return run
