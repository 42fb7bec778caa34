"""The one size parser (on top of ``dask.utils.parse_bytes``), the compact form used in case ids,
and the one check of a duration option."""

from __future__ import annotations

import math

from dask.utils import format_bytes, parse_bytes, parse_timedelta

from memreplay.errors import UserError

__all__ = ["MAX_REPEATS", "check_repeats", "check_scale", "check_seconds", "compact_bytes", "parse_duration",
           "parse_size"]

MAX_REPEATS = 1000  # a typo of a few zeros would otherwise plan for days


def parse_size(value: object, what: str) -> int:
    """``"4GiB"`` or a whole number of bytes → bytes. ``what`` names the option or key in the
    one-line error for anything that is not a positive, finite size."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (isinstance(value, str)
                                                                              and not value.strip()):
        raise UserError(f"{what}: {value!r} is not a size (try 4GiB or 500MiB)")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"{what}: {value!r} is not a size (try 4GiB or 500MiB)")
    try:
        size = parse_bytes(value) if isinstance(value, str) else int(value)
    except (ValueError, TypeError, OverflowError):
        raise UserError(f"{what}: {value!r} is not a size (try 4GiB or 500MiB)") from None
    if size <= 0:
        raise UserError(f"{what}: must be greater than 0, got {value!r}")
    return size


def parse_duration(value: str, what: str) -> float:
    """``"2h"``, ``"90m"``, ``"3600"`` (seconds) → seconds, finite and positive; else a one-line
    error naming ``what``."""
    try:
        seconds = parse_timedelta(value.strip() if isinstance(value, str) else value, default="s")
    except (ValueError, TypeError, KeyError, AttributeError, IndexError):
        raise UserError(f"{what}: {value!r} is not a duration (try 2h, 90m or 3600)") from None
    if seconds is None or not math.isfinite(seconds) or seconds <= 0:
        raise UserError(f"{what}: must be a positive duration, got {value!r}")
    return float(seconds)


def compact_bytes(value: int) -> str:
    """``4294967296`` → ``4GiB``: exact binary units where they fit, else dask's rounding."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if value % size == 0:
            return f"{value // size}{unit}"
    return format_bytes(value).replace(" ", "")


def check_seconds(value: float | None, what: str, *, zero_allowed: bool = False) -> float | None:
    """A duration option: finite and positive (or zero where ``zero_allowed``); None passes."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
            value < 0 or (value == 0 and not zero_allowed)):
        raise UserError(f"{what}: must be a finite number of seconds {'≥' if zero_allowed else '>'} 0, got {value!r}")
    return float(value)


def check_scale(value: float, what: str) -> float:
    """A corpus scale: finite and greater than 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise UserError(f"{what}: must be a finite number greater than 0, got {value!r}")
    return float(value)


def check_repeats(value: object, what: str) -> int:
    """A repeat count (a matrix's repeats, a ladder's): a whole number from 1 to MAX_REPEATS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_REPEATS:
        raise UserError(f"{what}: must be a positive whole number from 1 to {MAX_REPEATS}, got {value!r}")
    return value
