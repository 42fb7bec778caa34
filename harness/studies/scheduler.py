"""The scheduler's own memory under a sustained load, structure by structure.

The scheduler runs in its own process (``dask scheduler``), as in production, with real
``dask worker`` processes. A client drives batches of tiny tasks until the scheduler has made
at least N transitions, then leaves the cluster idle (heartbeats, system-monitor samples),
then measures, inside the scheduler process, each log structure's entry count and deep size
(``memreplay.probes.deepsize``, which follows deque items), and its RSS.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import psutil

from memreplay.analysis.scheduler_savings import compare_footprints
from memreplay.compat import transition_count
from memreplay.errors import UserError
from memreplay.execute.scheduler_process import (
    STARTUP_S,
    SchedulerFailed,
    dashboard_flag,
    dask_command,
    die_with_parent,
    last_error_line,
)
from memreplay.plan.distributed_config import SchedulerPreset, child_environment, load_preset
from memreplay.plan.sizes import check_seconds
from memreplay.probes.rss_sampler import RssSampler
from memreplay.probes.scheduler_footprint import measure_structures
from memreplay.records.schema import (
    SchedulerLadder,
    SchedulerRecord,
    SchedulerScenario,
    SchedulerSettings,
    StructureSize,
)
from memreplay.records.store import RunDirectory, new_record_fields

__all__ = ["run_scenario", "run_study", "scheduler_processes", "transitions_made"]

BATCH = 5_000
TRANSITIONS, IDLE_S = 200_000, 10.0
QUICK_TRANSITIONS, QUICK_IDLE_S = 40_000, 2.0  # --quick
RSS_INTERVAL_S = 0.25


def _inc(i: int) -> int:
    return i + 1


def _killed_with_parent() -> None:
    die_with_parent(signal.SIGKILL)


class _Child(NamedTuple):
    name: str
    process: subprocess.Popen[bytes]
    log: IO[str]


def _last_error_line(child: _Child) -> str:
    child.log.flush()
    return last_error_line(Path(child.log.name), child.process.returncode)


def _wait_for(ready: Callable[[], bool], children: list[_Child], what: str) -> None:
    """Until ``ready()``, at most STARTUP_S; a child that dies meanwhile fails at once, with its
    last error line."""
    deadline = time.monotonic() + STARTUP_S
    while not ready():
        for child in children:
            if child.process.poll() is not None:
                raise SchedulerFailed(f"{child.name} process exited with code {child.process.returncode} while "
                                     f"starting {what}: {_last_error_line(child)}")
        if time.monotonic() > deadline:
            raise SchedulerFailed(f"{what} did not start within {STARTUP_S} s")
        time.sleep(0.1)


@contextlib.contextmanager
def scheduler_processes(preset: SchedulerPreset, workers: int = 2) -> Iterator[tuple[Any, int]]:
    """A ``dask scheduler`` process under ``preset`` and ``workers`` single-threaded ``dask worker``
    processes (none: a scheduler that holds graphs without running them), all connected: yields
    a client and the scheduler's pid. Every process is stopped on the way out."""
    from distributed import Client

    env = child_environment(preset.settings)
    children: list[_Child] = []
    with tempfile.TemporaryDirectory(prefix="memreplay-scheduler-") as workdir:
        logs = Path(workdir)
        scheduler_file = logs / "scheduler.json"

        def start(name: str, *arguments: str) -> None:
            log = open(logs / f"{name}.log", "w")  # noqa: SIM115 (closed with the child)
            # killed by the kernel if memreplay is killed (kill -9, a test's time limit), not left
            # running: SIGKILL, as a nanny told to stop gracefully can wait on its dead scheduler for
            # minutes (a worker it started exits when the nanny is gone, distributed sees to that)
            children.append(_Child(name, subprocess.Popen([*dask_command(arguments[0]), *arguments[1:]], stdout=log,
                                                          stderr=subprocess.STDOUT, env=env,
                                                          preexec_fn=_killed_with_parent), log))

        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file", str(scheduler_file),
              *dashboard_flag())
        try:
            _wait_for(scheduler_file.exists, children, f"the scheduler under preset {preset.name}")
            for number in range(workers):
                start(f"worker-{number}", "worker", "--scheduler-file", str(scheduler_file), "--nthreads", "1",
                      "--no-dashboard")
            with Client(scheduler_file=str(scheduler_file), timeout=STARTUP_S) as client:
                _wait_for(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) >= workers, children,
                          f"{workers} workers under preset {preset.name}")
                yield client, client.run_on_scheduler(os.getpid)
        finally:
            # the workers first, each waited for, then the scheduler: a worker whose scheduler went
            # away first can hang until its nanny gives up on it
            for child in reversed(children):
                child.process.terminate()
                try:
                    child.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                child.log.close()


def run_scenario(preset: SchedulerPreset, transitions: int, idle_s: float, label: str = "",
                 workers: int = 2) -> SchedulerScenario:
    """One scheduler process under ``preset``: load, idle, measure."""
    with scheduler_processes(preset, workers) as (client, pid):
        client.get_task_stream()  # the dashboard's task stream exists once something asks for it
        sampler = RssSampler({"scheduler": pid}, RSS_INTERVAL_S, name="memreplay-scheduler-rss")
        rss_start = psutil.Process(pid).memory_info().rss
        # each task makes about five transitions: batches no larger than a quarter of the request
        size = min(BATCH, transitions // 4 + 1)
        started, batch, tasks = time.monotonic(), 0, 0
        while client.run_on_scheduler(transitions_made) < transitions:
            keys = [f"load-{batch}-{i}" for i in range(size)]
            client.gather(client.map(_inc, range(size), key=keys))
            batch, tasks = batch + 1, tasks + size
        load_s = time.monotonic() - started
        time.sleep(idle_s)
        measured = client.run_on_scheduler(measure_structures)
        rss_end = psutil.Process(pid).memory_info().rss
        timeline = [(t, rss) for t, _, rss in sampler.stop()]
    return SchedulerScenario(
        label=label, preset=preset.describe(), tasks=tasks, load_s=load_s, idle_s=idle_s,
        rss_start_bytes=rss_start, rss_end_bytes=rss_end, rss_timeline=timeline,
        structures={name: StructureSize(**size) for name, size in measured.pop("structures").items()}, **measured,
    )


def transitions_made(dask_scheduler: Any) -> int:
    """Inside the scheduler (``run_on_scheduler``): its transitions since it started."""
    return transition_count(dask_scheduler)


def run_study(default: str | Path, trimmed: str | Path, results: Path, quick: bool = False,
              transitions: int | None = None, idle_s: float | None = None,
              run_label: str = "scheduler", ladder: bool = False, ladder_sizes: list[int] | None = None,
              ladder_shapes: list[str] | None = None) -> RunDirectory[SchedulerRecord]:
    """``memreplay scheduler``: default, trimmed, and default again (an A/A run, so the noise
    is visible next to the saving), each in a fresh scheduler process; with ``ladder``, then the
    scheduler ladder under default and trimmed (:mod:`memreplay.studies.scheduler_ladder`)."""
    from memreplay.studies.scheduler_ladder import LADDER_SIZES, QUICK_LADDER_SIZES, SHAPES, check_ladder, run_ladder

    presets = {"default": load_preset(default), "trimmed": load_preset(trimmed)}  # refused before anything runs
    check_seconds(idle_s, "--idle", zero_allowed=True)
    if transitions is not None and transitions < 1:
        raise UserError(f"--transitions: must be at least 1, got {transitions}")
    if not ladder and (ladder_sizes or ladder_shapes):
        raise UserError("--sizes and --shapes: only with --ladder")
    sizes = sorted(set(ladder_sizes or (QUICK_LADDER_SIZES if quick else LADDER_SIZES))) if ladder else []
    shapes = list(dict.fromkeys(ladder_shapes or SHAPES)) if ladder else []
    if ladder:
        check_ladder(sizes, shapes)
    transitions = transitions or (QUICK_TRANSITIONS if quick else TRANSITIONS)
    idle_s = (QUICK_IDLE_S if quick else IDLE_S) if idle_s is None else idle_s
    record = SchedulerRecord(settings=SchedulerSettings(transitions=transitions, idle_s=idle_s, ladder_sizes=sizes,
                                                        ladder_shapes=shapes), **new_record_fields())
    run = RunDirectory.create(results, run_label, record)
    for label, preset in (("default", presets["default"]), ("trimmed", presets["trimmed"]),
                          ("default-again", presets["default"])):
        print(f"scheduler under {label}: {transitions:,} transitions, then {idle_s:g} s idle ...", file=sys.stderr)
        run.record.scenarios.append(run_scenario(preset, transitions, idle_s, label))
        run.save()
    run.record.comparison = compare_footprints(*run.record.scenarios)
    run.save()
    if ladder:
        def save(measured: SchedulerLadder) -> None:
            run.record.ladder = measured
            run.save()

        scenarios = {scenario.label: scenario for scenario in run.record.scenarios}
        run_ladder(presets, scenarios, sizes, shapes, save)
    return run
