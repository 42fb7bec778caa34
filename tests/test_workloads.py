from __future__ import annotations

import sys
from pathlib import Path

import dask
import pytest

from memreplay.workloads import AnswerMismatch, WorkloadError, registered_workloads, resolve_workload
from memreplay.workloads.imagechunks import find_spots, find_spots_lean, spot_tables_match
from memreplay.workloads.wordcount import count_words_naive, count_words_streaming


def test_registry_lists_five_workloads_with_metadata() -> None:
    workloads = registered_workloads()
    assert set(workloads) == {"wordcount-naive", "wordcount-streaming", "imagechunks", "imagechunks-lean",
                              "imagechunks-normalised"}
    for workload in workloads.values():
        assert workload.version >= 1 and workload.description and workload.task_function


def test_naive_and_streaming_word_counts_agree(text_corpus) -> None:
    for path in text_corpus.paths:
        assert count_words_naive(path) == count_words_streaming(path)


def test_word_count_answer_matches_generator_truth(text_corpus) -> None:
    workload = resolve_workload("wordcount-naive")
    (answer,) = dask.compute(workload.build(text_corpus), scheduler="sync")
    assert len(answer) == len(text_corpus.files)
    workload.check(answer, text_corpus)
    wrong = [list(top) for top in answer]
    wrong[-1][0] = (wrong[-1][0][0], wrong[-1][0][1] + 1)
    with pytest.raises(AnswerMismatch):
        workload.check(wrong, text_corpus)


def test_lean_spot_table_equals_naive(image_corpus) -> None:
    for path in image_corpus.paths:
        naive, lean = find_spots(path), find_spots_lean(path)
        assert naive, "every test volume should hold spots"
        assert spot_tables_match(naive, lean)
        assert not spot_tables_match(naive, lean[:-1])


def test_spots_are_found_where_planted(image_corpus) -> None:
    workload = resolve_workload("imagechunks-lean")
    (answer,) = dask.compute(workload.build(image_corpus), scheduler="sync")
    workload.check(answer, image_corpus)


def test_user_workload_by_module_and_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_pipeline.py").write_text(
        "import dask.bag as db\n"
        "def build(corpus):\n"
        "    return db.from_sequence(corpus.paths).map(lambda p: p.stat().st_size)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    workload = resolve_workload("my_pipeline:build")
    assert workload.name == "my_pipeline:build" and workload.corpus_kind == "text"
    with pytest.raises(WorkloadError, match="no function 'missing'"):
        resolve_workload("my_pipeline:missing")
    sys.modules.pop("my_pipeline", None)


def test_unimportable_module_is_a_workload_error() -> None:
    with pytest.raises(WorkloadError, match="cannot import 'no_such_module_xyz'"):
        resolve_workload("no_such_module_xyz:build")


def test_normalised_bright_voxels_hold_every_chunk_and_are_checked(image_corpus) -> None:
    from memreplay.workloads.imagechunks import stack_channels

    workload = resolve_workload("imagechunks-normalised")
    (answer,) = dask.compute(workload.build(image_corpus), scheduler="sync")
    assert len(answer) == len(image_corpus.files) and sum(answer) > 0
    workload.check(answer, image_corpus)
    with pytest.raises(AnswerMismatch):
        workload.check([count + 5 for count in answer], image_corpus)
    stack = stack_channels(image_corpus.paths[0])  # what each task holds: 8 times the chunk's bytes on disk
    assert stack.shape[0] == 2 and stack.nbytes >= 8 * (image_corpus.files[0].size - 128)
