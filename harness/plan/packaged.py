"""The matrices and presets memreplay ships (``memreplay.configs``, the repository's configs/),
found where memreplay is installed, so its commands work from any directory."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from memreplay.errors import UserError

__all__ = ["DEFAULT_MATRIX_NAME", "example_catalog", "matrix_path", "packaged_config", "packaged_configs",
           "preset_file", "shipped_matrices"]

DEFAULT_MATRIX_NAME = "default.toml"


def packaged_configs() -> Path:
    """The folder of memreplay's own configs. memreplay installs as files (never zipped), so it is
    a directory on disk that presets can be looked up beside."""
    folder = files("memreplay.configs")
    if not isinstance(folder, Path):  # a zip import: the matrices' paths could not go in records
        raise RuntimeError(f"memreplay.configs is not a folder on disk ({folder!r}): install memreplay unzipped")
    return folder


def packaged_config(relative: str) -> Path:
    """One of memreplay's own config files, e.g. ``default.toml`` or ``scheduler/trimmed.toml``."""
    return packaged_configs() / relative


def example_catalog() -> Path:
    """The machine catalog memreplay ships for ``memreplay plan``: example prices, to copy and replace."""
    return packaged_config("machines/example.toml")


def shipped_matrices() -> list[str]:
    """The names of the matrices memreplay ships (``default``, ``asv``, ...)."""
    return sorted(path.stem for path in packaged_configs().glob("*.toml"))


def matrix_path(argument: str) -> Path:
    """A matrix argument as a file: a path that exists, else the name of a shipped matrix
    (``default`` is configs/default.toml), else the path as given, for the reader to refuse."""
    given = Path(argument)
    if not given.exists() and given.suffix == "" and given.name == argument:
        shipped = packaged_config(f"{argument}.toml")
        if not shipped.is_file():
            raise UserError(f"no matrix {argument!r}: not a file here, nor one memreplay ships "
                            f"({', '.join(shipped_matrices())})")
        return shipped
    return given


def preset_file(name: object, beside: Path, folder: str, what: str) -> Path | None:
    """A preset (scheduler or memory) by name: ``<beside>/<folder>/NAME.toml``, else memreplay's
    own ``configs/<folder>/NAME.toml``, or a ``.toml`` path relative to ``beside``. None for
    ``default`` with no such file (the installed settings); any other name not found, or one
    that cannot go into a case id, is a one-line UserError naming ``what`` (the key or option)."""
    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{what}: each preset is a name such as \"default\", got {name!r}")
    candidates = ([beside / name] if name.endswith(".toml") else
                  [beside / folder / f"{name}.toml", packaged_config(f"{folder}/{name}.toml")])
    found = next((candidate for candidate in candidates if candidate.is_file()), None)
    if found is None and name != "default":
        shipped = ", ".join(sorted(path.stem for path in packaged_config(folder).glob("*.toml")))
        raise UserError(f"{what}: no preset {name!r} (memreplay ships {shipped}; looked for "
                        f"{', '.join(map(str, candidates))})")
    stem = Path(name).stem
    if not stem.replace("-", "").replace("_", "").isalnum():
        raise UserError(f"{what}: {stem!r}: a preset's name goes into case ids: letters, digits, - and _")
    return found
