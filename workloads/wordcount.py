"""Word count over a text corpus: the ten most common normalised words of each file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from memreplay.corpora import Corpus
from memreplay.workloads.workload import AnswerMismatch, per_file_workload

__all__ = ["check_top_words", "count_words_naive", "count_words_streaming", "normalise"]

TOP = 10
_PUNCTUATION = ".,'\""

TopWords = list[tuple[str, int]]


def normalise(word: str) -> str:
    return word.strip(_PUNCTUATION).lower()


def count_words_naive(path: Path) -> TopWords:
    """Reads the whole file and splits it at once: the peak holds every word of the file."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    words = text.split()
    counts = Counter(normalise(word) for word in words)
    counts.pop("", None)
    return counts.most_common(TOP)


def count_words_streaming(path: Path) -> TopWords:
    """The same answer, line by line: the peak holds one line and the counter."""
    counts: Counter[str] = Counter()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            counts.update(normalise(word) for word in line.split())
    counts.pop("", None)
    return counts.most_common(TOP)


def check_top_words(answer: list[TopWords], corpus: Corpus) -> None:
    if len(answer) != len(corpus.files):
        raise AnswerMismatch(f"expected {len(corpus.files)} results, got {len(answer)}")
    for top, file in zip(answer, corpus.files):
        truth = file.truth
        counts = [count for _, count in top]
        if counts != truth["top_counts"]:
            raise AnswerMismatch(f"{file.name}: top counts {counts} != {truth['top_counts']}")
        for word, count in top:
            if truth["contenders"].get(word) != count:
                raise AnswerMismatch(f"{file.name}: {word!r} counted {count}, truth {truth['contenders'].get(word)}")



wordcount_naive = per_file_workload(
    name="wordcount-naive",
    version=1,
    description="Word count, whole file read and split at once (one task per file).",
    corpus_kind="text",
    task_function=count_words_naive,
    check=check_top_words,
)

wordcount_streaming = per_file_workload(
    name="wordcount-streaming",
    version=1,
    description="Word count, line by line: same answer, a much smaller peak on large files.",
    corpus_kind="text",
    task_function=count_words_streaming,
    check=check_top_words,
)
