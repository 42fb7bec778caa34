"""Size ladders: how a task function's peak increase grows with its input, measured where
nothing else moves it. The function runs alone, in a fresh process for every measurement (no
allocator leftovers of an earlier task, no neighbour), on inputs of geometric sizes cut
deterministically from the corpus' largest file, with the exact meter the workers use. A line
is fitted on every rung but the largest, which it must predict: that error, per repeat, is how
far the model can be trusted when it sizes for inputs larger than any measured. Each
measurement's duration is fitted on its input size the same way: the time one task takes alone.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np

from memreplay.analysis.model import fit_ladder_durations, fit_points, grows, meets_goal
from memreplay.corpora import Corpus, ensure_corpus
from memreplay.errors import UserError
from memreplay.plan.sizes import check_repeats, check_scale, check_seconds
from memreplay.records.atomic import atomic_write_bytes
from memreplay.records.schema import ContendedRung, LadderRung, SizeLadder, SizeRecord, SizeSettings
from memreplay.records.store import RunDirectory, new_record_fields
from memreplay.studies.profile_target import START_AT, run_target
from memreplay.workloads import Workload, resolve_workload

__all__ = ["LADDER_FRACTIONS", "LADDER_REPEATS", "cut_input", "run_ladder", "size_workloads"]

LADDER_FRACTIONS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0)
LADDER_REPEATS = 3
CONTENDED_START_S = 2.0  # long enough for every copy to import before they start together
NEIGHBOUR_OVERHEAD = 128 * 2**20  # a fresh Python with numpy and memreplay imported, beside its task


class _Measured(msgspec.Struct):
    peak_increase_bytes: int
    duration_s: float
    method: str


def cut_input(source: Path, fraction: float, destination: Path) -> str:
    """Write the leading ``fraction`` of ``source`` to ``destination``, the same bytes every
    time: a text file up to the last whole line, an ``.npy`` array by whole planes of its first
    axis (the function sees an input of the same kind, only smaller). Returns how it was cut."""
    if source.suffix == ".npy":
        array = np.load(source, mmap_mode="r")
        planes = max(1, round(array.shape[0] * fraction)) if array.ndim else 1
        with open(destination, "wb") as handle:
            np.save(handle, np.ascontiguousarray(array[:planes] if array.ndim else array))
        return "leading planes"
    data = source.read_bytes()
    end = len(data) if fraction >= 1 else data.rfind(b"\n", 0, max(1, int(len(data) * fraction))) + 1
    atomic_write_bytes(destination, data[:end or int(len(data) * fraction)])  # a file of one line: cut anyway
    return "leading lines"


def _task_prefix(workload: Workload) -> str:
    # what dask.bag's map names the tasks: the function's name (key_split of "name-token")
    assert workload.task_function is not None
    return getattr(workload.task_function, "__name__", workload.slug)


def _measure(workload: Workload, path: Path, scratch: Path, timeout_s: float, name: str = "peak.json",
             start_at: float | None = None) -> _Measured | str:
    out = scratch / name
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "memreplay.studies.profile_target", "peak", workload.name, str(path), str(out)]
    done = run_target(command, scratch, timeout_s, None if start_at is None else {START_AT: repr(start_at)})
    if isinstance(done, str):
        return done
    return msgspec.json.decode(out.read_bytes(), type=_Measured)


def _neighbours(peak_increase: int) -> int:
    """How many copies of the largest input run at once: one per core, as many as half the
    memory available holds (a 64-core machine must not run out of memory measuring this)."""
    import psutil

    room = psutil.virtual_memory().available // 2 // max(1, peak_increase + NEIGHBOUR_OVERHEAD)
    return max(1, min(os.cpu_count() or 1, room))


def _contended(workload: Workload, path: Path, scratch: Path, timeout_s: float, processes: int) -> ContendedRung | str:
    """``processes`` copies of the task on ``path`` at once, each in a fresh process; they start
    together once all have imported (a wall-clock moment a few seconds ahead)."""
    start_at = time.time() + CONTENDED_START_S
    with concurrent.futures.ThreadPoolExecutor(processes) as pool:
        done = list(pool.map(lambda i: _measure(workload, path, scratch, timeout_s + CONTENDED_START_S,
                                                f"peak-{i}.json", start_at), range(processes)))
    failed = next((d for d in done if isinstance(d, str)), None)
    if failed is not None:
        return failed
    measured = [d for d in done if not isinstance(d, str)]
    return ContendedRung(processes=processes, input_bytes=path.stat().st_size,
                         duration_s=[m.duration_s for m in measured],
                         peak_increase_bytes=[m.peak_increase_bytes for m in measured])


def run_ladder(workload: Workload, corpus: Corpus, scratch: Path, *, repeats: int = LADDER_REPEATS,
               fractions: Sequence[float] = LADDER_FRACTIONS, timeout_s: float = 600) -> SizeLadder:
    """The ladder of one workload. Never raises for the task function's own failure (an error,
    a kill, a timeout): that is the ladder's ``failed`` outcome with the reason, and the rungs
    measured before it are kept. The cut inputs live in ``scratch`` and are removed after."""
    source = max(corpus.files, key=lambda f: f.size)
    scratch = scratch.resolve()  # each measurement runs in it: its inputs by paths that hold from there
    print(f"size ladder of {workload.name}: {len(fractions)} cuts of {source.name} × {repeats} repeats, "
          "each in a fresh process ...", file=sys.stderr)
    ladder = SizeLadder(workload=workload.name, host=socket.gethostname(), prefix=_task_prefix(workload),
                        source=source.name, cut="", method="", repeats=repeats, outcome="ok")
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        inputs = []
        for fraction in fractions:
            path = scratch / f"input-{fraction:.4f}{Path(source.name).suffix}"
            ladder.cut = cut_input(corpus.path(source), fraction, path)
            inputs.append((fraction, path))
            ladder.rungs.append(LadderRung(fraction=fraction, input_bytes=path.stat().st_size,
                                           peak_increase_bytes=[], duration_s=[]))
        # repeats outermost: a slow drift of the machine spreads over every rung alike
        for _ in range(repeats):
            for (fraction, path), rung in zip(inputs, ladder.rungs):
                measured = _measure(workload, path, scratch, timeout_s)
                if isinstance(measured, str):
                    ladder.outcome = "failed"
                    ladder.reason = f"{fraction:g} of {source.name} ({rung.input_bytes} bytes): {measured}"
                    return _fitted(ladder)
                ladder.method = measured.method
                rung.peak_increase_bytes.append(measured.peak_increase_bytes)
                rung.duration_s.append(measured.duration_s)
        processes = _neighbours(max(ladder.rungs[-1].peak_increase_bytes))
        if processes > 1:  # what a task's neighbours cost it: the largest input on every core at once
            contended = _contended(workload, inputs[-1][1], scratch, timeout_s, processes)
            if isinstance(contended, str):  # the ladder stands without it; the plan then models no neighbours
                print(f"size ladder of {workload.name}: the largest input on {processes} cores at once: {contended}",
                      file=sys.stderr)
            else:
                ladder.contended = contended
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if scratch.parent.name == "scratch" and not any(scratch.parent.iterdir()):
            scratch.parent.rmdir()
    return _fitted(ladder)


def _fitted(ladder: SizeLadder) -> SizeLadder:
    """The fit over every measured rung, each repeat's held-out error, and the goal's verdict;
    the duration's fit and each repeat's held-out error of it."""
    ladder.duration_model, ladder.duration_repeat_errors_percent = fit_ladder_durations(ladder)
    measured = [rung for rung in ladder.rungs if rung.peak_increase_bytes]
    points = [(rung.input_bytes, peak) for rung in measured for peak in rung.peak_increase_bytes]
    ladder.model = fit_points(ladder.prefix, points)
    if ladder.model is None:
        return ladder
    complete = min(len(rung.peak_increase_bytes) for rung in measured)
    ladder.repeat_errors_percent = [
        model.heldout.error_percent for repeat in range(complete)
        if (model := fit_points(ladder.prefix, [(r.input_bytes, r.peak_increase_bytes[repeat]) for r in measured]))]
    ladder.grows = grows(int(statistics.median(measured[0].peak_increase_bytes)),
                         int(statistics.median(measured[-1].peak_increase_bytes)))
    ladder.meets_goal = meets_goal(ladder.model.heldout, ladder.grows)
    return ladder


def size_workloads(references: list[str], scale: float, repeats: int, timeout_s: float, results: Path,
                   corpora: Path) -> RunDirectory[SizeRecord]:
    """``memreplay size``: a ladder per workload, into one run record saved after each."""
    check_scale(scale, "--scale")
    check_repeats(repeats, "--repeats")
    check_seconds(timeout_s, "--timeout")
    workloads = [resolve_workload(reference) for reference in references]  # every name checked first
    for workload in workloads:
        if workload.task_function is None:
            raise UserError(f"workload {workload.name!r} has no task function: a size ladder runs one task alone")
    corpus_by_kind = {w.corpus_kind: ensure_corpus(w.corpus_kind, scale, corpora) for w in workloads}
    record = SizeRecord(settings=SizeSettings(scale=scale, repeats=repeats, fractions=list(LADDER_FRACTIONS),
                                              timeout_s=timeout_s), **new_record_fields())
    run = RunDirectory.create(results, "size", record)
    with run.exclusive():
        for workload in workloads:
            run.record.ladders.append(run_ladder(workload, corpus_by_kind[workload.corpus_kind],
                                                 run.directory / "scratch" / workload.slug, repeats=repeats,
                                                 timeout_s=timeout_s))
            run.save()
    return run
