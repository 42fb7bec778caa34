"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""

import tomllib
from pathlib import Path
from typing import Any

from corpora import CorpusError
from workloads import WorkloadError

__all__ = ["USER_ERRORS", "UserError", "read_toml"]


class UserError(ValueError):
    """Bad input from the user: a message naming the problem, never a traceback."""


USER_ERRORS: tuple[type[Exception], ...] = (UserError, CorpusError, WorkloadError)


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file the user gave; an unreadable or malformed one is a one-line UserError."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise UserError(f"cannot read {what} {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
