"""A one-line progress display on stderr: case, elapsed time and estimated time left."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}:{seconds:02d}"


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = sys.stderr if stream is None else stream  # the stderr of now, not of import time
        self.started = time.monotonic()
        self._tty = self.stream.isatty()

    def case(self, label: str) -> None:
        elapsed = time.monotonic() - self.started
        eta = "?" if not self.done else _clock(elapsed / self.done * (self.total - self.done))
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {self.done + 1}/{self.total} {label}"
                f"  elapsed {_clock(elapsed)}  eta {eta}")
        self.stream.write(("\r\033[K" + line) if self._tty else line + "\n")
        self.stream.flush()

    def advance(self) -> None:
        self.done += 1

    def finish(self) -> None:
        if self._tty:
            self.stream.write("\n")
        self.stream.write(f"{self.done}/{self.total} cases in {_clock(time.monotonic() - self.started)}\n")
        self.stream.flush()
