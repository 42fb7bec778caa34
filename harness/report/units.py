"""How sizes read on every report: signed changes and MiB figures (``dask.utils.format_bytes``
for the rest)."""

from __future__ import annotations

from dask.utils import format_bytes

from memreplay.records.task_rows import MIB

__all__ = ["duration_text", "mib_text", "signed_bytes"]


def signed_bytes(value: float) -> str:
    """``+3.41 MiB``, ``-120.00 kiB``."""
    return ("-" if value < 0 else "+") + format_bytes(int(abs(value)))


def mib_text(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.1f} MiB"


def duration_text(seconds: float | None) -> str:
    """``42.0 s``, ``12.5 min``, ``3.2 h``: the unit a person plans in."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds:.3f} s"
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"
