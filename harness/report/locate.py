"""Where a run's files are: a directory its record names, found inside the run directory it is
read from, so a run that was moved, copied or renamed still reports."""

from __future__ import annotations

from pathlib import Path

__all__ = ["beside"]


def beside(run: Path, recorded: str) -> Path:
    """The longest tail of the recorded path that exists inside ``run``, else the recorded path
    (where it was when the run was made)."""
    parts = Path(recorded).parts
    for start in range(1, len(parts)):
        inside = run.joinpath(*parts[start:])
        if inside.is_dir() and inside != run:
            return inside
    return Path(recorded)
