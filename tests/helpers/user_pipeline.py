"""A pipeline of "the user's own", for record & replay: run as a script, with its own cluster.

    python tests/helpers/user_pipeline.py CORPORA SCALE ok    word counts of the corpus' books, and of 16
                                                      equal parts of generated text, whose
                                                      (word, count) pairs are shuffled and
                                                      grouped by first letter
    python tests/helpers/user_pipeline.py CORPORA SCALE oom   one task that outgrows its 400 MiB worker

The parts are equal so that the pipeline's own wall time does not hang on where the scheduler
happens to put one large task: the span compared with a replay is then the work, not luck.
"""

import random
import sys
import time
from collections import Counter

import dask
import dask.bag as db
from distributed import Client, LocalCluster

from memreplay.corpora import ensure_corpus
from memreplay.workloads.wordcount import count_words_naive


def generated_words(seed, count):
    rng = random.Random(seed)
    return [f"{rng.choice('abcdefghijklmnopqrstuvwxyz')}{rng.randrange(20_000)}" for _ in range(count)]


def word_counts(words):
    return Counter(words).most_common(2000)


def grow(i):
    held = []
    for _ in range(30):  # 50 MiB every 50 ms, up to 1.5 GiB: the nanny sees it pass its limit
        block = bytearray(50 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        held.append(block)
        time.sleep(0.05)
    return len(held)


def main(corpora: str, scale: float, mode: str) -> None:
    if mode == "oom":
        with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="400MiB",
                          dashboard_address=None) as cluster, Client(cluster):
            db.from_sequence(range(2), npartitions=2).map(grow).compute()
        return
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB", dashboard_address=None) as cluster, \
            Client(cluster):
        books = [path for path in ensure_corpus("text", scale, corpora).paths if path.name.startswith("book")]
        top, totals = dask.compute(*counts_and_letters(books, 16, int(300_000 * scale), 8))
        print(len(top), "files counted,", len(totals), "letters")


def counts_and_letters(books: list, parts: int, words_per_part: int, groups: int) -> tuple:
    """The pipeline's two bags: each book's word counts, and the (word, count) pairs of ``parts``
    parts of generated text shuffled into ``groups`` groups by first letter and summed."""
    counts = db.from_sequence(books, npartitions=len(books)).map(count_words_naive)
    letters = (db.from_sequence(range(parts), npartitions=parts).map(generated_words, count=words_per_part)
               .map(word_counts).flatten()
               .groupby(first_letter, shuffle="tasks", npartitions=groups)
               .map(letter_total))
    return counts, letters


def first_letter(pair):
    return pair[0][:1]


def letter_total(group):
    return group[0], sum(count for _, count in group[1])


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), sys.argv[3])
