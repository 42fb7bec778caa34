from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memreplay.corpora import CorpusError, ensure_corpus
from memreplay.corpora.manifest import MANIFEST_NAME, file_sha256


@pytest.mark.parametrize("kind", ["text", "images"])
def test_generating_twice_gives_identical_bytes(kind: str, tmp_path: Path) -> None:
    first = ensure_corpus(kind, 0.01, tmp_path / "a")
    second = ensure_corpus(kind, 0.01, tmp_path / "b")
    assert [f.sha256 for f in first.files] == [f.sha256 for f in second.files]
    for a, b in zip(first.paths, second.paths):
        assert a.read_bytes() == b.read_bytes()


def test_manifest_records_size_and_checksum(text_corpus) -> None:
    manifest = json.loads((text_corpus.root / MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == len(text_corpus.files) == 9
    for entry in manifest["files"]:
        path = text_corpus.root / entry["name"]
        assert path.stat().st_size == entry["size"]
        assert file_sha256(path) == entry["sha256"]


@pytest.mark.parametrize("damage", ["truncate", "alter", "delete"])
def test_damaged_file_is_detected_and_regenerated(damage: str, tmp_path: Path) -> None:
    corpus = ensure_corpus("text", 0.01, tmp_path)
    victim = corpus.paths[2]
    original = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(original[: len(original) // 2])
    elif damage == "alter":
        victim.write_bytes(original[:100] + b"X" + original[101:])  # same size, other bytes
    else:
        victim.unlink()
    regenerated: list[str] = []
    again = ensure_corpus("text", 0.01, tmp_path, on_generate=regenerated.append)
    assert regenerated == [victim.name]
    assert victim.read_bytes() == original
    assert again.files == corpus.files


def test_text_is_shaped_like_a_corpus(text_corpus) -> None:
    sizes = {f.name: f.size for f in text_corpus.files}
    books = [size for name, size in sizes.items() if name.startswith("book-")]
    assert len(books) == 8 and sizes["large.txt"] > 10 * max(books)
    text = (text_corpus.root / "large.txt").read_text()
    assert text.count("\n") > 100
    for mark in ".,'\"":
        assert mark in text
    assert re.search(r"\b[A-Z][a-z]+", text)


def test_scale_sets_the_large_file_size(tmp_path: Path) -> None:
    corpus = ensure_corpus("text", 0.04, tmp_path)
    large = corpus.files[-1]
    assert large.name == "large.txt"
    assert abs(large.size - 1_000_000) < 50_000  # 25 MB at scale 1.0


def test_image_volumes_vary_in_size(image_corpus) -> None:
    import numpy as np

    sizes = [f.size for f in image_corpus.files]
    assert len(set(sizes)) == len(sizes)
    volume = np.load(image_corpus.paths[0])
    assert volume.dtype == np.uint16 and volume.ndim == 3


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_non_positive_scale_is_refused(scale: float, tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="scale"):
        ensure_corpus("text", scale, tmp_path)


def test_two_processes_generating_one_corpus_at_once_both_succeed(tmp_path: Path) -> None:
    import subprocess

    from tests.helpers.cli import MEMREPLAY

    cache = tmp_path / "cache"
    command = [MEMREPLAY, "corpora", "--scale", "0.05", "--kind", "text", "--dir", str(cache),
               "--results", str(tmp_path)]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    regenerated: list[str] = []
    ensure_corpus("text", 0.05, cache, on_generate=regenerated.append)
    assert regenerated == []  # what they made together is intact


def test_a_corpus_file_replaced_by_a_directory_is_one_line(tmp_path: Path) -> None:
    corpus = ensure_corpus("text", 0.01, tmp_path)
    victim = corpus.paths[0]
    victim.unlink()
    victim.mkdir()
    with pytest.raises(CorpusError, match=f"cannot write corpus .*{victim.name}"):
        ensure_corpus("text", 0.01, tmp_path)
