"""The corpus manifest: every file's name, size, sha256 and ground truth."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["MANIFEST_NAME", "Corpus", "CorpusFile", "file_sha256", "read_manifest", "write_atomically",
           "write_manifest"]

T = TypeVar("T")

MANIFEST_NAME = "manifest.json"
# Version history: 1 = first layout (kind, scale, seed, generator_version, files[]).
MANIFEST_SCHEMA = 1


@dataclass(frozen=True)
class CorpusFile:
    """One generated file. ``truth`` is what the generator knows the right answer to be."""

    name: str
    size: int
    sha256: str
    truth: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Corpus:
    kind: str
    root: Path
    scale: float
    seed: int
    generator_version: int
    files: tuple[CorpusFile, ...]

    def path(self, file: CorpusFile) -> Path:
        return self.root / file.name

    @property
    def paths(self) -> list[Path]:
        return [self.path(f) for f in self.files]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def describe(self) -> dict[str, Any]:
        """The part of a corpus a run record needs to say what it ran on."""
        return {
            "kind": self.kind,
            "root": str(self.root),
            "scale": self.scale,
            "seed": self.seed,
            "generator_version": self.generator_version,
            "files": len(self.files),
            "total_bytes": self.total_bytes,
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: Path, write: Callable[[Path], T]) -> T:
    """``write(partial)`` then rename the partial file over ``path``: a reader (or a run cut
    short) never sees half a corpus file or half a manifest."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        result = write(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return result


def write_manifest(corpus: Corpus) -> None:
    document = json.dumps(
        {
            "schema": MANIFEST_SCHEMA,
            "kind": corpus.kind,
            "scale": corpus.scale,
            "seed": corpus.seed,
            "generator_version": corpus.generator_version,
            "files": [
                {"name": f.name, "size": f.size, "sha256": f.sha256, "truth": f.truth}
                for f in corpus.files
            ],
        },
        indent=2,
    )
    write_atomically(corpus.root / MANIFEST_NAME, lambda partial: partial.write_text(document + "\n"))


def read_manifest(root: Path) -> Corpus | None:
    """The manifest in ``root``, or None if it is missing, unreadable or of another schema."""
    try:
        document = json.loads((root / MANIFEST_NAME).read_text())
        if document.get("schema") != MANIFEST_SCHEMA:
            return None
        return Corpus(
            kind=document["kind"],
            root=root,
            scale=float(document["scale"]),
            seed=int(document["seed"]),
            generator_version=int(document["generator_version"]),
            files=tuple(CorpusFile(**entry) for entry in document["files"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
