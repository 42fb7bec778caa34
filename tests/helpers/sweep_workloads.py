"""Workloads for the sweep tests, resolvable as ``tests.helpers.sweep_workloads:NAME`` in workers."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dask
import dask.bag as db

from memreplay.studies.groundtruth import MIB, allocate_and_hold
from memreplay.workloads import Workload

PEAK_PER_INPUT_BYTE = 40  # the synthetic linear law the model must recover


def _linear_task(path: Path) -> int:
    return allocate_and_hold(PEAK_PER_INPUT_BYTE * path.stat().st_size / MIB, 0.01)


def _hog(path: Path) -> int:
    """Grow by 50 MiB every 50 ms up to 1.5 GiB: past any small limit, slowly enough for the
    nanny's memory monitor to see it."""
    held = []
    for _ in range(30):
        block = bytearray(50 * MIB)
        block[:: 4096] = b"x" * len(block[:: 4096])
        held.append(block)
        time.sleep(0.05)
    return len(held)


def _per_file(task):
    return lambda corpus: db.from_sequence(corpus.paths, npartitions=len(corpus.files)).map(task)


linear = Workload("linear", 1, "peak = 40 x input bytes", "text", build=_per_file(_linear_task),
                  task_function=_linear_task)
# two partitions: with one, dask fuses its finalize step into the task and names it after that
hog = Workload("hog", 1, "tasks that grow to 1.5 GiB", "text",
               build=lambda corpus: db.from_sequence(corpus.paths[:2], npartitions=2).map(_hog), task_function=_hog)


def _hang(path: Path) -> None:
    time.sleep(600)


hangs = Workload("hangs", 1, "one task that never finishes in time", "text",
                 build=lambda corpus: db.from_sequence(corpus.paths[:1], npartitions=1).map(_hang), task_function=_hang)


def _raise_timeout(path: Path) -> None:
    raise TimeoutError(f"the database did not answer while reading {path.name}")


raises_timeout = Workload("raises-timeout", 1, "a task that raises TimeoutError itself", "text",
                          build=_per_file(_raise_timeout), task_function=_raise_timeout)


HOSTILE_KEY = "<img src=x onerror=alert(1)>"  # a task key that is also HTML: reports must show it as text


def _hostile(path: Path) -> int:
    return allocate_and_hold(40, 0.05)


hostile_key = Workload("hostile-key", 1, "one 40 MiB task whose key is an HTML injection", "text",
                       build=lambda corpus: dask.delayed(_hostile)(corpus.paths[0], dask_key_name=HOSTILE_KEY),
                       task_function=_hostile)


def _killed(path: Path) -> None:
    os.kill(os.getpid(), signal.SIGKILL)  # what the kernel's OOM killer does to a process


killed = Workload("killed", 1, "a task whose process is killed", "text", build=_per_file(_killed),
                  task_function=_killed)
build_only = Workload("build-only", 1, "a graph with no task function to run alone", "text",
                      build=_per_file(_linear_task))


def _increment(i: int) -> int:
    return i + 1


# about 3,000 transitions: more than the default transition log keeps (1,000), and the trimmed 200
many_tasks = Workload("many-tasks", 1, "500 tiny tasks: the scheduler's logs fill", "text",
                      build=lambda corpus: db.from_sequence(range(5_000), npartitions=500).map(_increment).sum())


def _where_read(path: Path) -> str:
    with open(path, "rb") as handle:
        handle.read(1)
    return os.fspath(path)


def _read_on_the_workers(answer: list[str], corpus) -> None:
    from memreplay.workloads import AnswerMismatch

    for read in answer:
        if Path(read).resolve().is_relative_to(Path(corpus.root).resolve()):
            raise AnswerMismatch(f"a task read the driver's own file {read}")


where_read = Workload("where-read", 1, "each task says which file it read", "text", build=_per_file(_where_read),
                      task_function=_where_read, check=_read_on_the_workers)


def _slow(i: int) -> int:
    time.sleep(1.0)
    return allocate_and_hold(20, 0.01) + i


# one-second tasks: long enough to kill a worker, or add one, while they run
slow = Workload("slow", 1, "eight one-second tasks", "text",
                build=lambda corpus: db.from_sequence(range(8), npartitions=8).map(_slow))


class ShapelessCluster:
    """A cluster manager that can be told how many workers, but not their memory limit."""

    def __init__(self, n_workers: int = 1, threads_per_worker: int = 1) -> None:
        self.n_workers = n_workers


class QueueCluster:
    """The signature of a dask-jobqueue cluster: one job's cores and memory, workers by scale()."""

    def __init__(self, cores: int | None = None, memory: str | None = None, processes: int | None = None,
                 queue: str | None = None, job_extra_directives: list[str] | None = None) -> None:
        pass

    def scale(self, n: int) -> None:
        pass


# --- results held on the workers: what Dask's memory manager spills ----------------------------

HELD_BLOCK_MIB = 32
_HELD: list = []  # the last held blocks' futures: on the cluster until the case's probes have read it


def _block(i: int):
    import numpy as np

    time.sleep(0.1)  # a memory monitor's interval: a worker past its pause threshold pauses within a block or two
    return np.random.default_rng(i).integers(0, 2**62, HELD_BLOCK_MIB * MIB // 8, dtype=np.int64)  # incompressible


def _no_graph(corpus):
    raise TypeError("held blocks are submitted by their drive function")


def held_blocks(blocks: int) -> Workload:
    """``blocks`` results of HELD_BLOCK_MIB each, all held on the cluster to the end of the case
    (their futures kept): with a worker's target below their total, it spills the rest."""

    def drive(client, corpus, timeout_s):
        from distributed import wait

        from memreplay.workloads import DeadlinePassed

        futures = client.map(_block, range(blocks), key=[f"block-{i}" for i in range(blocks)])
        _HELD[:] = futures
        try:
            wait(futures, timeout=timeout_s)
        except TimeoutError:
            raise DeadlinePassed(f"{blocks} held blocks not done in {timeout_s} s") from None
        return blocks

    return Workload(f"held-{blocks}", 1, f"{blocks} results of {HELD_BLOCK_MIB} MiB held to the end", "text",
                    build=_no_graph, drive=drive)


# 960 MiB: on a 1 GiB worker, past the default target (60 %), so it spills; with spilling off, past
# pause (80 %) and short of terminate (95 %), so the worker pauses with blocks still to run
held = held_blocks(30)
spills = held_blocks(8)  # 256 MiB: on a 400 MiB worker, past its default target (240 MiB), so it spills
