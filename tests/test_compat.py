"""Every distributed internal memreplay touches, checked on a live cluster of the installed
version; and a moved internal fails loudly, naming itself."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from memreplay import compat
from memreplay.execute.cluster import local_cluster
from memreplay.plan.cluster_config import ClusterConfig
from tests.helpers.cli import FUSES_BAG_PARTITIONS


def _on_worker(dask_worker: Any) -> tuple[int, bool]:
    tasks = compat.worker_task_states(dask_worker)
    return len(tasks), callable(compat.worker_sender(dask_worker))


def test_every_internal_is_where_memreplay_expects_it() -> None:
    with local_cluster(ClusterConfig(n_workers=1, threads_per_worker=1, memory_limit=2**30)) as (cluster, client):
        client.gather(client.map(abs, range(10)))
        client.get_task_stream()  # creates the task stream, as the dashboard would
        scheduler = cluster.scheduler
        assert compat.transition_count(scheduler) > 10
        structures = compat.log_structures(scheduler)
        assert {"transition_log", "events", "task_stream", "computations", "log_records",
                "system_monitor"} <= set(structures)
        assert len(structures["transition_log"]) > 0
        (state,) = scheduler.workers.values()
        assert compat.worker_reported_memory(state) > 0
        assert compat.memory_kill_events(scheduler) == []
        (answer,) = client.run(_on_worker).values()
        assert answer[1] is True
        from distributed.diagnostics.plugin import SchedulerPlugin

        plugin = SchedulerPlugin()
        scheduler.add_plugin(plugin, name="memreplay-test")
        assert compat.scheduler_plugin(scheduler, "memreplay-test") is plugin
        compat.add_stream_handlers(scheduler, {"memreplay-test-op": lambda **kwargs: None})
        assert "memreplay-test-op" in scheduler.stream_handlers
        assert client in compat.live_clients()
        # dask fuses a bag's steps and leaves an alias under the un-fused name
        import dask.bag as db

        bag = db.from_sequence(range(4), npartitions=2).map(abs)
        future = client.compute(bag)
        future.result()
        keys = [key for key in scheduler.tasks if isinstance(key, tuple)]
        aliases = {key for key in keys if str(key) in compat.alias_keys(scheduler, keys)}
        data = {key for key in keys if str(key) in compat.data_keys(scheduler, keys)}
        if FUSES_BAG_PARTITIONS:
            assert aliases and all(not str(key[0]).startswith("from_sequence-") for key in aliases)
            assert any(str(key[0]).startswith("from_sequence-") for key in set(keys) - aliases)
            assert not data
        else:  # older dask: each partition is a task of its own, data that runs no code
            assert data and all(str(key[0]).startswith("from_sequence-") for key in data)
            assert not aliases & data and all(str(key[0]).startswith("abs-") for key in set(keys) - data)
        # and a chain of maps leaves an alias under the last one's name, either way
        chained = client.compute(db.from_sequence(range(4), npartitions=2).map(abs).map(str))
        chained.result()
        keys = [key for key in scheduler.tasks if isinstance(key, tuple) and str(key[0]).startswith("str-")]
        assert len(keys) == 2 and compat.alias_keys(scheduler, keys) == {str(key) for key in keys}


def _memory_manager(dask_worker: Any) -> tuple[dict[str, Any], tuple[int, int, int, bool]]:
    return compat.worker_memory_manager(dask_worker), compat.worker_memory_sampler(dask_worker)()


def test_the_memory_managers_internals_are_where_memreplay_expects_them() -> None:
    import dask
    import distributed
    import numpy as np

    # a target of 1 % of 1 GiB: each 16 MiB result held goes to disk
    with dask.config.set({"distributed.worker.memory.target": 0.01, "distributed.worker.memory.spill": False}), \
            local_cluster(ClusterConfig(n_workers=1, threads_per_worker=1, memory_limit=2**30)) as (cluster, client):
        held = client.map(lambda i: np.full(2**21, i, dtype=np.int64), range(3))  # 3 x 16 MiB, kept
        distributed.wait(held)
        ((state, (managed, spilled_memory, spilled_disk, paused)),) = client.run(_memory_manager).values()
        assert state["settings"]["target"] == 0.01 and state["settings"]["spill"] is False
        assert state["settings"]["terminate"] == 0.95 and state["spilling"] is True
        assert state["spilled"][0] >= 2 * 16 * 2**20 and state["metrics"]["disk-write/count"] >= 2
        assert state["metrics"]["disk-write/bytes"] >= state["spilled"][1] > 0
        assert spilled_memory == state["spilled"][0] and spilled_disk == state["spilled"][1] and paused is False
        assert managed == state["managed"] < 3 * 16 * 2**20  # in memory only: the spilled ones are not managed
        events = compat.worker_memory_events(cluster.scheduler, 0.0)
        (worker,) = cluster.scheduler.workers
        assert [action for _, action, _ in events[worker]][:1] == ["add-worker"]  # its own topic, not "all"


def test_a_moved_internal_fails_loudly_naming_itself() -> None:
    with pytest.raises(compat.DistributedChanged, match="worker-restart-memory"):
        compat.check_memory_kill_event({"worker": "tcp://127.0.0.1:1", "memory": 5})
    with pytest.raises(compat.DistributedChanged, match=r"Scheduler\.transition_counter.*distributed 2"):
        compat.transition_count(SimpleNamespace())
    with pytest.raises(compat.DistributedChanged, match=r"WorkerState\.metrics"):
        compat.worker_reported_memory(SimpleNamespace())
    with pytest.raises(compat.DistributedChanged, match="'memory'"):
        compat.worker_reported_memory(SimpleNamespace(metrics={}))
    with pytest.raises(compat.DistributedChanged, match=r"Worker\.memory_manager"):
        compat.worker_memory_manager(SimpleNamespace(data={}))
    with pytest.raises(compat.DistributedChanged, match="worker-status-change event has no status"):
        compat.worker_memory_events(SimpleNamespace(get_events=lambda: {"tcp://w:1": [
            (1.0, {"action": "worker-status-change"})]}), 0.0)
