"""Errors a user can cause. The CLI prints them as one line and exits with code 2."""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """Bad input from the user: a message naming the file or option and the problem, never a traceback."""
