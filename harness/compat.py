"""Every internal of distributed that memreplay touches, in one place.

memreplay needs a few things distributed does not offer as public API: a message route from
a worker plugin to a scheduler plugin (``stream_handlers``, ``batched_send``), a worker's task
states (input and output sizes), the scheduler's registry of worker plugins (so workers that
join later are probed), the nanny's out-of-memory event, the scheduler's bounded logs, and
Dask's memory manager on a worker (its thresholds, its spill buffer's spilled bytes and metrics)
and the scheduler's events about it (pauses, arrivals and removals).
Each accessor below checks what it reaches for and raises :class:`DistributedChanged`, naming
the attribute and the installed version, instead of quietly reading a default: a silent 0 here
would be a wrong measurement. ``tests/test_compat.py`` checks them all on a live cluster.

Tested against distributed 2026.8.0, 2025.5.1 and 2024.4.2 (the first whose nanny logs
``worker-restart-memory``); the scheduler study (``log_structures``, ``transition_count``) also
against 2023.6.0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import version
from typing import Any

__all__ = [
    "MEMORY_KILL_TOPIC",
    "DistributedChanged",
    "add_stream_handlers",
    "check_memory_kill_event",
    "cluster_versions",
    "distributed_version",
    "install_worker_plugin",
    "alias_keys",
    "data_keys",
    "live_clients",
    "held_task_count",
    "log_structures",
    "memory_kill_events",
    "register_worker_plugin",
    "scheduler_plugin",
    "task_dependencies",
    "transition_count",
    "worker_reported_memory",
    "worker_call_later",
    "worker_incoming_bytes",
    "worker_memory_events",
    "worker_memory_manager",
    "worker_memory_sampler",
    "worker_sender",
    "worker_task_states",
    "worker_transfers",
]

# The event a nanny logs just before it kills its worker for exceeding the memory limit
# (distributed/worker_memory.py: ``nanny.log_event("worker-restart-memory", ...)``).
MEMORY_KILL_TOPIC = "worker-restart-memory"


class DistributedChanged(RuntimeError):
    """An internal of distributed that memreplay relies on is not where it was."""


def distributed_version() -> str:
    return version("distributed")


def _require(obj: Any, attribute: str, where: str) -> Any:
    try:
        return getattr(obj, attribute)
    except AttributeError:
        raise DistributedChanged(
            f"memreplay relies on distributed's {where}.{attribute}, which distributed {distributed_version()} "
            "does not have: memreplay needs an update for this version"
        ) from None


# --- scheduler side ----------------------------------------------------------------------------


def add_stream_handlers(scheduler: Any, handlers: Mapping[str, Callable[..., None]]) -> None:
    """Route worker messages with these ``op`` names to ``handlers`` (called with ``worker=``)."""
    _require(scheduler, "stream_handlers", "Scheduler").update(handlers)


def register_worker_plugin(scheduler: Any, name: str, plugin: Any) -> None:
    """Install a WorkerPlugin on every worker of ``scheduler``, now and on those that join
    later. Callable from the scheduler's event loop (a preload) or from another thread."""
    from distributed.protocol.pickle import dumps
    from distributed.utils import sync

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None and running is scheduler.loop.asyncio_loop:
        _require(scheduler, "worker_plugins", "Scheduler")[name] = dumps(plugin)  # workers that join from now on
        running.create_task(install_worker_plugin(scheduler, name, plugin))  # and those already connected, shortly
    else:
        sync(scheduler.loop, install_worker_plugin, scheduler, name, plugin)  # from another thread: wait


async def install_worker_plugin(scheduler: Any, name: str, plugin: Any) -> None:
    """On the scheduler's event loop: install a WorkerPlugin on every connected worker (and on
    those that join later), returning once every connected worker has it."""
    from distributed.protocol.pickle import dumps

    await _require(scheduler, "register_worker_plugin", "Scheduler")(None, dumps(plugin), name, idempotent=False)


def scheduler_plugin(scheduler: Any, name: str) -> Any:
    """The SchedulerPlugin installed under ``name``."""
    return _require(scheduler, "plugins", "Scheduler")[name]


def memory_kill_events(scheduler: Any, since: float = 0.0) -> list[dict[str, Any]]:
    """The nanny's out-of-memory kill events the scheduler has heard of since ``since`` (its own
    clock: a running cluster's scheduler remembers earlier cases' kills), each with the
    ``worker`` killed and its ``rss`` (bytes) at the kill."""
    events = [message for when, message in scheduler.get_events(MEMORY_KILL_TOPIC) if when >= since]
    for event in events:
        check_memory_kill_event(event)
    return events


def check_memory_kill_event(event: Any) -> dict[str, Any]:
    """A nanny's out-of-memory event, with the fields memreplay reads, or a loud failure."""
    if not (isinstance(event, dict) and isinstance(event.get("worker"), str) and isinstance(event.get("rss"), int)):
        raise DistributedChanged(f"distributed {distributed_version()}'s {MEMORY_KILL_TOPIC!r} event is not "
                                 f"{{'worker': str, 'rss': int, ...}}: {event!r}")
    return event


def worker_reported_memory(worker_state: Any) -> int:
    """The RSS a worker last reported in its heartbeat (the scheduler's ``WorkerState``)."""
    metrics = _require(worker_state, "metrics", "WorkerState")
    if "memory" not in metrics:
        raise DistributedChanged(f"distributed {distributed_version()}'s WorkerState.metrics has no 'memory'")
    return int(metrics["memory"])


def transition_count(scheduler: Any) -> int:
    """Transitions the scheduler has made since it started."""
    return int(_require(scheduler, "transition_counter", "Scheduler"))


def held_task_count(scheduler: Any) -> int:
    """Tasks the scheduler holds now, in any state."""
    return len(_require(scheduler, "tasks", "Scheduler"))


def log_structures(scheduler: Any) -> dict[str, Any]:
    """The scheduler's bounded logs by name, wherever this version of distributed keeps them.
    The task stream exists only once the dashboard or ``get_task_stream`` created it."""
    structures: dict[str, Any] = {"transition_log": _require(scheduler, "transition_log", "Scheduler")}
    if hasattr(scheduler, "_broker"):  # 2023.9.3 and later: events live in a Broker of topics
        topics = _require(scheduler._broker, "_topics", "Scheduler._broker")
        structures["events"] = {name: _require(topic, "events", "Topic") for name, topic in topics.items()}
    else:  # before: a dict of deques
        structures["events"] = dict(_require(scheduler, "events", "Scheduler"))
    stream = scheduler.plugins.get("task-stream")
    if stream is not None:
        structures["task_stream"] = _require(stream, "buffer", "TaskStreamPlugin")
    structures["computations"] = _require(scheduler, "computations", "Scheduler")
    if hasattr(scheduler, "erred_tasks"):  # added in 2023.7
        structures["erred_tasks"] = scheduler.erred_tasks
    structures["log_records"] = _require(_require(scheduler, "_deque_handler", "Scheduler"), "deque", "DequeHandler")
    structures["system_monitor"] = _require(_require(scheduler, "monitor", "Scheduler"), "quantities",
                                            "SystemMonitor")
    return structures


def _graph_nodes() -> tuple[Any, Any]:
    """dask's ``Alias`` and ``DataNode`` classes, or ``()`` for each (which no run_spec is an
    instance of) where dask has none: before 2024.10 (no ``dask._task_spec``)."""
    try:
        from dask._task_spec import Alias, DataNode
    except ImportError:
        return (), ()
    return Alias, DataNode


def _legacy_literal(spec: Any) -> tuple[bool, Any]:
    """(True, the value) when ``spec`` is a legacy run_spec (a tuple ``(function, args, kwargs)``,
    dask and distributed before 2024.12) that only evaluates one value, with no code around it:
    ``(execute_task, (value,), {})``. (False, None) otherwise."""
    if not (isinstance(spec, tuple) and len(spec) == 3 and getattr(spec[0], "__name__", None) == "execute_task"
            and isinstance(spec[1], tuple) and len(spec[1]) == 1 and not spec[2]):
        return False, None  # every task of dask 2024.12 and later leaves here
    from dask.core import istask

    (value,) = spec[1]

    def code(part: Any) -> bool:
        return istask(part) or (isinstance(part, list) and any(map(code, part)))

    return (False, None) if code(value) else (True, value)


def alias_keys(scheduler: Any, keys: Iterable[Any]) -> set[str]:
    """The keys (as strings) among ``keys`` whose task only renames another task's output
    (dask's ``Alias``, which a fused graph leaves under the un-fused name; before dask 2024.12 a
    run_spec that evaluates its one dependency's key): no code of its own."""
    alias, _ = _graph_nodes()
    states = _require(scheduler, "tasks", "Scheduler")
    aliases = set()
    for key in keys:
        state = states.get(key)
        if state is None:
            continue
        spec = _require(state, "run_spec", "TaskState")
        if isinstance(spec, alias):
            aliases.add(str(key))
            continue
        literal, value = _legacy_literal(spec)
        if not literal:
            continue
        deps = {_require(dep, "key", "TaskState") for dep in _require(state, "dependencies", "TaskState")}
        try:
            renames = len(deps) == 1 and value in deps
        except TypeError:  # an unhashable value: data, not a key
            renames = False
        if renames:
            aliases.add(str(key))
    return aliases


def data_keys(scheduler: Any, keys: Iterable[Any]) -> set[str]:
    """The keys (as strings) among ``keys`` whose task is only a value written into the graph: no
    code, no dependencies (dask's ``DataNode``; before dask 2024.12 a literal run_spec). dask
    before 2024.12 fuses no bag's ``from_sequence`` partitions into the tasks that map over them:
    there each partition is such a task, the first map's only dependency."""
    _, data = _graph_nodes()
    states = _require(scheduler, "tasks", "Scheduler")
    found = set()
    for key in keys:
        state = states.get(key)
        if state is None or _require(state, "dependencies", "TaskState"):
            continue
        spec = _require(state, "run_spec", "TaskState")
        literal, _value = _legacy_literal(spec)
        if isinstance(spec, data) or literal:
            found.add(str(key))
    return found


def task_dependencies(scheduler: Any, keys: Iterable[Any]) -> dict[str, list[str]]:
    """Each key's dependencies (keys as strings), from the scheduler's task states."""
    states = _require(scheduler, "tasks", "Scheduler")
    found = {}
    for key in keys:
        state = states.get(key)
        if state is not None:
            found[str(key)] = [str(_require(dep, "key", "TaskState")) for dep in
                               _require(state, "dependencies", "TaskState")]
    return found


def _installed_versions(packages: list[str]) -> dict[str, str | None]:
    """Each package's version as its installed metadata gives it (None: not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = installed(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def cluster_versions(client: Any, packages: Iterable[str]) -> dict[str, Any]:
    """``Client.get_versions`` (client, scheduler and every worker), each of ``packages`` with the
    version its installed metadata gives, in every process: distributed 2025.5 reads that metadata,
    but 2024.4 reads an imported module's ``__version__``, so the same stale
    install would be told apart on one release and not on the other."""
    names = list(packages)
    versions = client.get_versions(packages=names)
    versions["client"].setdefault("packages", {}).update(_installed_versions(names))
    versions["scheduler"].setdefault("packages", {}).update(client.run_on_scheduler(_installed_versions, names))
    for address, found in client.run(_installed_versions, names, on_error="return").items():
        reported = versions["workers"].get(address)
        if isinstance(reported, dict) and isinstance(found, dict):
            reported.setdefault("packages", {}).update(found)
    return versions


def live_clients() -> list[Any]:
    """Every Client of this process that is not closed (distributed tracks them in ``Client._instances``)."""
    from distributed import Client

    return [client for client in list(_require(Client, "_instances", "Client")) if client.status != "closed"]


# The scheduler's events about a worker's memory (topic: the worker's address): its status
# changes (running → paused and back, closing) and its coming and going.
MEMORY_EVENT_ACTIONS = ("worker-status-change", "add-worker", "remove-worker")


def worker_memory_events(scheduler: Any, since: float) -> dict[str, list[tuple[float, str, str | None]]]:
    """By worker address, the scheduler's memory events since ``since`` (its clock), oldest first:
    (time, action, the new status for a status change), with the nanny's out-of-memory kills as
    action ``worker-restart-memory``."""
    found: dict[str, list[tuple[float, str, str | None]]] = {}
    for topic, events in _require(scheduler, "get_events", "Scheduler")().items():
        for when, message in events:
            if when < since or not isinstance(message, dict):
                continue
            action = message.get("action")
            if topic == MEMORY_KILL_TOPIC:
                worker = check_memory_kill_event(message)["worker"]
                found.setdefault(worker, []).append((float(when), MEMORY_KILL_TOPIC, None))
            elif "://" in str(topic) and action in MEMORY_EVENT_ACTIONS:  # a worker's own topic, not "all"
                status = message.get("status") if action == "worker-status-change" else None
                if action == "worker-status-change" and not isinstance(status, str):
                    raise DistributedChanged(f"distributed {distributed_version()}'s worker-status-change event has "
                                             f"no status: {message!r}")
                found.setdefault(str(topic), []).append((float(when), str(action), status))
    for events in found.values():
        events.sort()
    return found


# --- worker side (called once when the worker plugin is set up, not per task) -------------------


def worker_memory_manager(worker: Any) -> dict[str, Any]:
    """Dask's memory manager on this worker now: the thresholds it runs with, whether it can spill
    (its ``data`` is a SpillBuffer; a plain dict when target and spill are both off), the bytes it
    has spilled (sizeof, and their size on disk), its managed bytes (sizeof of the data it holds
    in memory), and the spill buffer's ever-growing metrics as ``label/unit`` (disk-write/bytes,
    disk-read/seconds, serialize/seconds, ...)."""
    import dask

    manager = _require(worker, "memory_manager", "Worker")
    data = _require(worker, "data", "Worker")
    spilling = hasattr(data, "spilled_total")
    metrics: dict[str, float] = {}
    spilled = (0, 0)
    if spilling:
        spilled = tuple(int(v) for v in _require(data, "spilled_total", "SpillBuffer"))  # type: ignore[assignment]
        for (label, unit), value in _require(data, "cumulative_metrics", "SpillBuffer").items():
            metrics[f"{label}/{unit}"] = float(value)
    settings = {
        "memory_limit": _require(manager, "memory_limit", "WorkerMemoryManager"),
        "target": _require(manager, "memory_target_fraction", "WorkerMemoryManager"),
        "spill": _require(manager, "memory_spill_fraction", "WorkerMemoryManager"),
        "pause": _require(manager, "memory_pause_fraction", "WorkerMemoryManager"),
        # the nanny's kill line and the spill file's settings, as this worker's process resolved them
        "terminate": dask.config.get("distributed.worker.memory.terminate"),
        "spill-compression": dask.config.get("distributed.worker.memory.spill-compression"),
        "max-spill": dask.config.get("distributed.worker.memory.max-spill"),
    }
    held = int(_require(_require(worker, "state", "Worker"), "nbytes", "WorkerState"))  # spilled results too
    return {"settings": settings, "spilling": spilling, "spilled": spilled, "metrics": metrics,
            "managed": max(0, held - spilled[0])}


def worker_memory_sampler(worker: Any) -> Callable[[], tuple[int, int, int, bool]]:
    """A reader, cheap enough for every RSS sample, of (managed bytes in memory, spilled bytes as
    sizeof, spilled bytes on disk, paused) on this worker."""
    from distributed.core import Status

    state, data = _require(worker, "state", "Worker"), _require(worker, "data", "Worker")
    _require(state, "nbytes", "WorkerState")
    _require(worker, "status", "Worker")
    spilling = hasattr(data, "spilled_total")

    def sample() -> tuple[int, int, int, bool]:
        memory, disk = data.spilled_total if spilling else (0, 0)
        # the worker state's nbytes counts every result it holds, spilled ones too (as the
        # scheduler's MemoryState does: managed = nbytes - spilled)
        return max(0, int(state.nbytes) - int(memory)), int(memory), int(disk), worker.status == Status.paused

    return sample


def worker_task_states(worker: Any) -> Mapping[Any, Any]:
    """The worker's task states by key; each has ``dependencies`` and ``nbytes``."""
    return _require(_require(worker, "state", "Worker"), "tasks", "WorkerState")


def worker_sender(worker: Any) -> Callable[[dict[str, Any]], None]:
    """Send a message to the scheduler on the worker's existing batched stream."""
    return _require(worker, "batched_send", "Worker")


def worker_call_later(worker: Any) -> Callable[..., Any]:
    """``call_later(delay, callback, *args)`` on the worker's event loop (where task transitions
    run), returning a handle with ``cancel()``."""
    return _require(_require(_require(worker, "loop", "Worker"), "asyncio_loop", "IOLoop"), "call_later",
                    "asyncio loop")


def worker_transfers(worker: Any, since: float) -> list[tuple[float, dict[str, int], int]]:
    """The data transfers this worker received that started at or after ``since`` (the
    scheduler's clock, as the log's is): each one's duration, the keys it carried with their
    bytes, and its total bytes."""
    found = []
    for entry in _require(worker, "transfer_incoming_log", "Worker"):
        if not (isinstance(entry, dict) and {"start", "duration", "keys", "total"} <= entry.keys()):
            raise DistributedChanged(f"distributed {distributed_version()}'s Worker.transfer_incoming_log entries "
                                     f"are not {{'start', 'duration', 'keys', 'total', ...}}: {entry!r}")
        if entry["start"] >= since:
            found.append((float(entry["duration"]), {str(k): int(v) for k, v in entry["keys"].items()},
                          int(entry["total"])))
    return found


def worker_incoming_bytes(worker: Any) -> Callable[[], int]:
    """A reader of the bytes this worker is receiving from other workers right now."""
    state = _require(worker, "state", "Worker")
    _require(state, "transfer_incoming_bytes", "WorkerState")
    return lambda: int(state.transfer_incoming_bytes)
