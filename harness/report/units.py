"""How sizes read on every report: signed changes and MiB figures (``dask.utils.format_bytes``
for the rest)."""

from __future__ import annotations

from dask.utils import format_bytes

from memreplay.records.task_rows import MIB

__all__ = ["mib_text", "signed_bytes"]


def signed_bytes(value: float) -> str:
    """``+3.41 MiB``, ``-120.00 kiB``."""
    return ("-" if value < 0 else "+") + format_bytes(int(abs(value)))


def mib_text(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.1f} MiB"
