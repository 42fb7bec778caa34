"""Find a corpus in the cache, verify it against its manifest, and (re)generate what is missing."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpora import images, text
from corpora.manifest import Corpus, CorpusFile, file_sha256, read_manifest, write_atomically, write_manifest

__all__ = ["CORPUS_KINDS", "DEFAULT_SEED", "CorpusError", "ensure_corpus", "corpus_directory"]

DEFAULT_SEED = 20_260_101


class CorpusError(ValueError):
    """A corpus cannot be made as asked (bad scale, unwritable directory)."""


@dataclass(frozen=True)
class _Generator:
    version: int
    plan: Callable[[float, int], list[Any]]
    generate: Callable[[Any, int, Path], dict[str, Any]]


_GENERATORS: dict[str, _Generator] = {
    "text": _Generator(text.GENERATOR_VERSION, text.plan_text_corpus, text.generate_text_file),
    "images": _Generator(images.GENERATOR_VERSION, images.plan_image_corpus, images.generate_image_chunk),
}
CORPUS_KINDS: tuple[str, ...] = tuple(_GENERATORS)


def corpus_directory(cache: Path, kind: str, scale: float, seed: int) -> Path:
    return Path(cache) / f"{kind}-scale{scale:g}-seed{seed}"


def ensure_corpus(
    kind: str, scale: float, cache: Path, seed: int = DEFAULT_SEED,
    on_generate: Callable[[str], None] | None = None,
) -> Corpus:
    """The verified corpus ``kind`` at ``scale``; files that are missing, truncated or altered
    (size or sha256 differs from the manifest) are regenerated, byte-identical to the first time."""
    if kind not in _GENERATORS:
        raise CorpusError(f"unknown corpus kind {kind!r} (known: {', '.join(CORPUS_KINDS)})")
    if not (scale > 0 and math.isfinite(scale)):
        raise CorpusError(f"corpus scale must be a finite number greater than 0, got {scale:g}")
    generator = _GENERATORS[kind]
    root = corpus_directory(cache, kind, scale, seed)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CorpusError(f"cannot create corpus directory {root}: {error.strerror}") from None
    if not os.access(root, os.W_OK):
        raise CorpusError(f"corpus directory {root} is not writable")

    known = read_manifest(root)
    recorded: dict[str, CorpusFile] = {}
    if known and (known.kind, known.scale, known.seed, known.generator_version) == (
        kind, scale, seed, generator.version
    ):
        recorded = {f.name: f for f in known.files}

    files, changed = [], known is None or not recorded
    for spec in generator.plan(scale, seed):
        entry = recorded.get(spec.name)
        path = root / spec.name
        if entry is None or not _intact(path, entry):
            if on_generate:
                on_generate(spec.name)
            entry = _generate(generator, spec, seed, path)
            changed = True
        files.append(entry)
    corpus = Corpus(kind, root, scale, seed, generator.version, tuple(files))
    if changed:
        write_manifest(corpus)
    return corpus


def _intact(path: Path, entry: CorpusFile) -> bool:
    try:
        return path.stat().st_size == entry.size and file_sha256(path) == entry.sha256
    except OSError:
        return False


def _generate(generator: _Generator, spec: Any, seed: int, path: Path) -> CorpusFile:
    truth = write_atomically(path, lambda partial: generator.generate(spec, seed, partial))
    return CorpusFile(spec.name, path.stat().st_size, file_sha256(path), truth)
