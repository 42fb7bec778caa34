"""Synthetic text shaped like a real corpus: Zipf-distributed words, capitals, punctuation, lines.

Normalising a word (strip ``.,'"`` and lower-case) gives back its vocabulary entry, so the
generator knows every file's exact word counts and records the top of them as ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GENERATOR_VERSION", "TextFileSpec", "generate_text_file", "plan_text_corpus"]

# Bump when the bytes generated for a given (scale, seed) change.
GENERATOR_VERSION = 1

VOCABULARY_SIZE = 30_000
BOOKS = 8
BOOK_BYTES_RANGE = (200_000, 950_000)  # each book stays under 1 MB at scale 1.0
LARGE_FILE_BYTES = 25_000_000
MIN_FILE_BYTES = 2_000
TRUTH_TOP = 10

_LETTERS = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
_LETTER_WEIGHTS = np.array(
    [12.7, 9.1, 8.2, 7.5, 7.0, 6.7, 6.3, 6.1, 6.0, 4.3, 4.0, 2.8, 2.8, 2.4, 2.4, 2.2, 2.0, 2.0,
     1.9, 1.5, 1.0, 0.8, 0.15, 0.15, 0.1, 0.07]
)


@dataclass(frozen=True)
class TextFileSpec:
    name: str
    index: int
    target_bytes: int


def plan_text_corpus(scale: float, seed: int) -> list[TextFileSpec]:
    """The files of a text corpus at ``scale``: several books and one large file, last."""
    rng = np.random.default_rng([seed, 0])
    book_sizes = rng.integers(*BOOK_BYTES_RANGE, size=BOOKS)
    specs = [
        TextFileSpec(f"book-{i:02d}.txt", i, max(MIN_FILE_BYTES, round(int(size) * scale)))
        for i, size in enumerate(book_sizes)
    ]
    specs.append(TextFileSpec("large.txt", BOOKS, max(MIN_FILE_BYTES, round(LARGE_FILE_BYTES * scale))))
    return specs


def _vocabulary(seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 1])
    lengths = np.clip(rng.poisson(4.5, size=VOCABULARY_SIZE * 2) + 1, 1, 14)
    letters = rng.choice(_LETTERS, size=int(lengths.sum()), p=_LETTER_WEIGHTS / _LETTER_WEIGHTS.sum())
    words, position = [], 0
    for length in lengths:
        words.append("".join(letters[position : position + length]))
        position += length
    unique = list(dict.fromkeys(words))[:VOCABULARY_SIZE]  # keeps first-seen order: deterministic
    return np.array(unique, dtype=object)


def _zipf_probabilities(size: int) -> np.ndarray:
    # Zipf–Mandelbrot, close to measured English frequency curves.
    weights = 1.0 / (np.arange(size) + 2.7) ** 1.07
    return weights / weights.sum()


def generate_text_file(spec: TextFileSpec, seed: int, path: Path) -> dict[str, Any]:
    """Write ``spec`` to ``path`` and return its ground truth (top word counts)."""
    vocabulary = _vocabulary(seed)
    probabilities = _zipf_probabilities(len(vocabulary))
    lengths = np.array([len(w) for w in vocabulary])
    mean_bytes = float(probabilities @ lengths) + 1.25  # separator plus punctuation, on average
    n_words = max(10, int(spec.target_bytes / mean_bytes))

    rng = np.random.default_rng([seed, 2, spec.index])
    indices = rng.choice(len(vocabulary), size=n_words, p=probabilities)
    words = vocabulary[indices]

    roll = rng.random(n_words)
    sentence_end = roll < 0.06
    comma = (roll >= 0.06) & (roll < 0.14)
    capital = rng.random(n_words) < 0.05
    capital[1:] |= sentence_end[:-1]
    capital[0] = True
    quote = rng.random(n_words)
    open_double, close_double = quote < 0.015, (quote >= 0.015) & (quote < 0.03)
    open_single, close_single = (quote >= 0.03) & (quote < 0.037), (quote >= 0.037) & (quote < 0.044)

    decorated = [w.capitalize() if c else w for w, c in zip(words.tolist(), capital.tolist())]
    for mask, prefix, suffix in (
        (open_double, '"', ""), (open_single, "'", ""),
        (comma, "", ","), (sentence_end, "", "."),
        (close_double, "", '"'), (close_single, "", "'"),
    ):
        for i in np.flatnonzero(mask).tolist():
            decorated[i] = prefix + decorated[i] + suffix

    # Lines of 6–14 words, a blank line between paragraphs of about eight lines.
    line_lengths = rng.integers(6, 15, size=n_words // 6 + 1)
    paragraph_breaks = rng.random(len(line_lengths)) < 0.12
    lines, position = [], 0
    for length, blank in zip(line_lengths.tolist(), paragraph_breaks.tolist()):
        if position >= n_words:
            break
        lines.append(" ".join(decorated[position : position + length]))
        if blank:
            lines.append("")
        position += length
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    counts = np.bincount(indices, minlength=len(vocabulary))
    return {"words": n_words, **_top_counts(vocabulary, counts)}


def _top_counts(vocabulary: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """The ten highest counts, and every word tied with them, so ties cannot fool a check."""
    order = np.argsort(-counts, kind="stable")
    top = counts[order[:TRUTH_TOP]]
    threshold = int(top[-1])
    contenders = {str(vocabulary[i]): int(counts[i]) for i in order if counts[i] >= threshold}
    return {"top_counts": [int(c) for c in top], "contenders": contenders}
