"""The one reader of the TOML files a user gives (matrices, scheduler presets)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from memreplay.errors import UserError

__all__ = ["read_toml"]


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file the user gave; an unreadable, binary or malformed one is a one-line UserError."""
    try:
        return tomllib.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as error:
        raise UserError(f"cannot read {what} {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text file (a {what} is UTF-8 TOML)") from None
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{path}: not valid TOML: {error}") from None
