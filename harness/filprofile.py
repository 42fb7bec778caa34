"""Fil peak-memory profiles of one task's function, in a subprocess of its own.

Fil's figure is *tracked allocations at the peak* (with BLAS/OpenMP pools forced to one
thread), not RSS: records keep it under its own name and never mix it with RSS figures.
"""

from __future__ import annotations

import linecache
import os
import re
import subprocess
import sys
import sysconfig
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["FIL_OUTPUTS", "parse_folded_stacks", "profile_task", "svg_peak_bytes", "top_lines"]

FIL_OUTPUTS = ("peak-memory.prof", "peak-memory.svg", "peak-memory-reversed.svg", "index.html")
_SVG_TITLE = re.compile(r"Peak Tracked Memory Usage \(([\d.]+) MiB\)")
_FRAME = re.compile(r"^(?P<file>.*):(?P<line>\d+) \((?P<function>.*)\)$")
FIL_OOM_EXIT = 53


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


def top_lines(stacks: list[tuple[list[str], int]], focus: str | None = None, count: int = 5) -> list[dict[str, Any]]:
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
        {"file": file, "line": line, "function": function, "code": linecache.getline(file, line).strip(),
         "bytes": size, "percent": round(100 * size / total, 1)}
        for (file, line, function), size in ranked
    ]


def _attributed_frame(frames: list[str], focus: str | None) -> tuple[str, int, str] | None:
    parsed = [(m["file"], int(m["line"]), m["function"]) for m in (_FRAME.match(f) for f in frames) if m]
    if not parsed:
        return None
    stdlib = sysconfig.get_paths()["stdlib"]
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
    from harness.fil_target import SOURCE_MARKER

    for line in stdout.splitlines():
        if line.startswith(SOURCE_MARKER):
            return line.removeprefix(SOURCE_MARKER).strip()
    return None


def profile_task(workload: str, input_path: Path, out_dir: Path, timeout: float = 600) -> dict[str, Any]:
    """Profile ``workload``'s task function on ``input_path``; never raises for Fil's failures:
    they are recorded as ``failed`` or ``skipped`` with the reason."""
    out_dir, input_path = out_dir.resolve(), input_path.resolve()  # the subprocess runs in out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {"workload": workload, "input": str(input_path), "input_bytes": input_path.stat().st_size,
                              "figure": "tracked allocations at peak (Fil; thread pools forced to one thread)"}
    result_dir = out_dir / "fil"
    command = [_fil_command(), "--no-browser", "python", "-m", "harness.fil_target",
               workload, str(input_path), str(result_dir)]
    if not Path(command[0]).exists():
        return {**record, "status": "skipped", "reason": "fil-profile is not installed"}
    try:
        # cwd: on a crash Fil writes a report of its own into ./fil-result; keep it with ours
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [os.getcwd(), os.environ.get("PYTHONPATH")]))}
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=out_dir, env=env)
    except subprocess.TimeoutExpired:
        return {**record, "status": "failed", "reason": f"timed out after {timeout:g} s"}
    if done.returncode != 0:
        own_lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("=fil-profile=")]
        reason = "Fil detected out of memory" if done.returncode == FIL_OOM_EXIT else (
            own_lines[-1].strip() if own_lines else f"exit code {done.returncode}")
        return {**record, "status": "failed", "exit_code": done.returncode, "reason": reason}
    if not (result_dir / "peak-memory.prof").exists():
        return {**record, "status": "failed", "reason": "Fil wrote no peak-memory.prof"}
    stacks = parse_folded_stacks(result_dir / "peak-memory.prof")
    peak = sum(size for _, size in stacks)
    return {
        **record,
        "status": "ok",
        "directory": str(result_dir),
        "outputs": [name for name in FIL_OUTPUTS if (result_dir / name).exists()],
        "peak_tracked_bytes": peak,
        "svg_title_bytes": svg_peak_bytes(result_dir / "peak-memory.svg"),
        "top_lines": top_lines(stacks, focus=_source_directory(done.stdout)),
    }
