"""The built-in workloads, an explicit map, and resolution of any workload reference: a
built-in name, ``replay:TRACE`` or ``package.module:function``."""

from __future__ import annotations

import dataclasses
import importlib

from memreplay.workloads.imagechunks import imagechunks, imagechunks_lean, imagechunks_normalised
from memreplay.workloads.wordcount import wordcount_naive, wordcount_streaming
from memreplay.workloads.workload import Workload, WorkloadError

__all__ = ["BUILTIN_WORKLOADS", "registered_workloads", "resolve_workload"]

BUILTIN_WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (wordcount_naive, wordcount_streaming, imagechunks, imagechunks_lean, imagechunks_normalised)
}


def registered_workloads() -> dict[str, Workload]:
    """The built-in workloads by name (a copy: the caller may change it)."""
    return dict(BUILTIN_WORKLOADS)


def resolve_workload(reference: str) -> Workload:
    """A registered name, ``replay:TRACE`` (a recorded pipeline), or ``package.module:function``
    naming a Workload or a plain ``build(corpus)`` function (then run on the text corpus, its
    answer unchecked)."""
    if reference.startswith("replay:"):
        from memreplay.workloads.replay import replay_workload
        from memreplay.workloads.trace import TraceError

        try:
            return replay_workload(reference)
        except TraceError as error:
            raise WorkloadError(str(error)) from None
    builtins = registered_workloads()
    if reference in builtins:
        return builtins[reference]
    if ":" not in reference:
        raise WorkloadError(
            f"unknown workload {reference!r} (known: {', '.join(sorted(builtins))};"
            " or give package.module:function)"
        )
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import-time failure is the user's module, not ours
        raise WorkloadError(f"cannot import {module_name!r} for workload {reference!r}: {error}") from None
    except SystemExit as exit_:  # a script with a sys.exit() at import, not a library
        raise WorkloadError(f"cannot import {module_name!r} for workload {reference!r}: it called "
                            f"sys.exit({exit_.code!r}) at import") from None
    target = getattr(module, attribute, None)
    if isinstance(target, Workload):
        # named by its reference, so a record's name is what resolves it again (e.g. under Fil)
        return dataclasses.replace(target, name=reference)
    if callable(target):
        return Workload(reference, 0, f"user workload {reference}", "text", target)
    raise WorkloadError(f"{reference!r}: module {module_name!r} has no function {attribute!r}")
