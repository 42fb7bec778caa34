"""Every task's dependencies, as the scheduler learns them from each graph: what a recorded
trace needs to rebuild the graph's shape. Read in the scheduler, handed back at the end."""

from __future__ import annotations

from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin

from memreplay.compat import scheduler_plugin, task_dependencies

__all__ = ["DependencyRecorder", "finish_dependencies", "install_dependencies"]

PLUGIN_NAME = "memreplay-dependencies"


class DependencyRecorder(SchedulerPlugin):
    name = PLUGIN_NAME

    def __init__(self) -> None:
        self.dependencies: dict[str, list[str]] = {}

    def update_graph(self, scheduler: Any, *, tasks: list[Any] = (), **kwargs: Any) -> None:
        self.dependencies.update(task_dependencies(scheduler, tasks))


def install_dependencies(dask_scheduler: Any) -> None:
    dask_scheduler.add_plugin(DependencyRecorder(), name=PLUGIN_NAME)


def finish_dependencies(dask_scheduler: Any) -> dict[str, list[str]]:
    recorder = scheduler_plugin(dask_scheduler, PLUGIN_NAME)
    dask_scheduler.remove_plugin(name=PLUGIN_NAME)
    return recorder.dependencies
