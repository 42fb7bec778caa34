"""The interface every peak-RSS method implements, and the choice between them."""

from __future__ import annotations

from typing import Protocol

__all__ = ["PeakMeter", "open_meter"]


class PeakMeter(Protocol):
    """Measures this process's resident memory and its peak since the last reset, in bytes."""

    method: str

    def read(self) -> tuple[int, int]:
        """(current RSS, peak RSS since the last reset)."""
        ...

    def rss(self) -> int:
        """Current RSS alone: where no peak is needed, cheaper than :meth:`read`."""
        ...

    def reset(self) -> int:
        """Start a new peak interval at the current RSS, and return that RSS."""
        ...

    def close(self) -> None: ...


def open_meter(method: str = "auto") -> PeakMeter:
    """``"clear_refs"`` (exact, Linux), ``"sampling"`` (a 2 ms polling thread), or ``"auto"``:
    clear_refs where the kernel lets this process reset its peak, else sampling."""
    from memreplay.probes.clear_refs import ClearRefsMeter, clear_refs_available
    from memreplay.probes.sampling import SamplingMeter

    if method == "clear_refs" or (method == "auto" and clear_refs_available()):
        return ClearRefsMeter()
    if method in ("sampling", "auto"):
        return SamplingMeter()
    raise ValueError(f"unknown peak-memory method {method!r} (auto, clear_refs, sampling)")
