"""f(Xi) over image chunks: smooth, subtract background, threshold, label, tabulate spots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from memreplay.corpora import Corpus
from memreplay.workloads.workload import AnswerMismatch, Workload, per_file_workload

__all__ = ["SpotTable", "bright_voxels", "check_bright_voxels", "check_spots", "find_spots", "find_spots_lean",
           "imagechunks_normalised", "spot_tables_match", "stack_channels"]

SMOOTHING_SIGMA = 1.0
BACKGROUND_WINDOW = 15
THRESHOLD = 60.0  # counts above local background; the generator's spots peak far above it

# One row per spot: centroid z, y, x, voxel count, integrated intensity above background.
SpotTable = list[tuple[float, float, float, int, float]]


def find_spots(path: Path) -> SpotTable:
    """float64 throughout, a new array at every step: simple, and a large peak."""
    raw = np.load(path)
    image = raw.astype(np.float64)
    smoothed = ndimage.gaussian_filter(image, SMOOTHING_SIGMA)
    background = ndimage.uniform_filter(smoothed, BACKGROUND_WINDOW)
    residual = smoothed - background
    mask = residual > THRESHOLD
    labels, count = ndimage.label(mask)
    return _tabulate(residual, labels, count)


def find_spots_lean(path: Path) -> SpotTable:
    """The same table in float32, filtering in place and freeing each step's input early."""
    image = np.load(path).astype(np.float32)
    ndimage.gaussian_filter(image, SMOOTHING_SIGMA, output=image)
    residual = ndimage.uniform_filter(image, BACKGROUND_WINDOW)
    np.subtract(image, residual, out=residual)
    del image
    labels, count = ndimage.label(residual > THRESHOLD)
    return _tabulate(residual, labels, count)


def _tabulate(residual: np.ndarray, labels: np.ndarray, count: int) -> SpotTable:
    index = np.arange(1, count + 1)
    voxels = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    intensity = ndimage.sum_labels(residual, labels, index)
    centroids = ndimage.center_of_mass(residual, labels, index)
    return [
        (float(z), float(y), float(x), int(n), float(total))
        for (z, y, x), n, total in zip(centroids, voxels, intensity)
    ]


def spot_tables_match(left: SpotTable, right: SpotTable) -> bool:
    """Equal up to float rounding. float32 and float64 can disagree about a voxel lying within
    rounding error of the threshold, which moves that spot's voxel count by one, its centroid by
    hundredths of a voxel and its intensity by about the threshold: the same spots, found in
    the same places, pass; a missing, extra or displaced spot does not."""
    if len(left) != len(right):
        return False
    a, b = np.array(left, dtype=np.float64), np.array(right, dtype=np.float64)
    if a.size == 0:
        return True
    voxels_close = np.abs(a[:, 3] - b[:, 3]) <= np.maximum(1, 0.01 * a[:, 3])
    return bool(
        voxels_close.all()
        and np.allclose(a[:, :3], b[:, :3], rtol=0, atol=0.05)
        and np.allclose(a[:, 4], b[:, 4], rtol=0.01)
    )


def check_spots(answer: list[SpotTable], corpus: Corpus) -> None:
    """Every planted spot found once, within one voxel of where it was planted."""
    if len(answer) != len(corpus.files):
        raise AnswerMismatch(f"expected {len(corpus.files)} spot tables, got {len(answer)}")
    for table, file in zip(answer, corpus.files):
        planted = np.array(file.truth["spots"], dtype=np.float64).reshape(-1, 3)
        found = np.array([row[:3] for row in table], dtype=np.float64).reshape(-1, 3)
        if len(found) != len(planted):
            raise AnswerMismatch(f"{file.name}: found {len(found)} spots, planted {len(planted)}")
        if len(planted):
            distance = np.linalg.norm(planted[:, None, :] - found[None, :, :], axis=2).min(axis=1)
            if distance.max() > 1.0:
                raise AnswerMismatch(f"{file.name}: a spot found {distance.max():.2f} voxels from its truth")



imagechunks = per_file_workload(
    name="imagechunks",
    version=1,
    description="Spot detection per 3-D chunk in float64, a new array per step.",
    corpus_kind="images",
    task_function=find_spots,
    check=check_spots,
)

imagechunks_lean = per_file_workload(
    name="imagechunks-lean",
    version=1,
    description="The same spot table in float32, in place where possible: a smaller peak.",
    corpus_kind="images",
    task_function=find_spots_lean,
    check=check_spots,
)


# --- normalised against every chunk: results that outgrow a worker's target --------------------

BRIGHT_SIGMAS = 3.0  # a voxel is bright when its smoothed value is this many deviations above the mean


def stack_channels(path: Path) -> np.ndarray:
    """A chunk as a two-channel float64 stack, (raw, smoothed): 8 times the bytes on disk."""
    raw = np.load(path)
    stack = np.empty((2, *raw.shape), dtype=np.float64)
    stack[0] = raw
    ndimage.gaussian_filter(stack[0], SMOOTHING_SIGMA, output=stack[1])
    return stack


def _moments(stack: np.ndarray) -> tuple[float, float, int]:
    smoothed = stack[1]
    return float(smoothed.sum()), float(np.square(smoothed).sum()), int(smoothed.size)


def _add(left: tuple[float, float, int], right: tuple[float, float, int]) -> tuple[float, float, int]:
    return left[0] + right[0], left[1] + right[1], left[2] + right[2]


def bright_voxels(stack: np.ndarray, moments: tuple[float, float, int]) -> int:
    """Voxels whose smoothed value lies BRIGHT_SIGMAS deviations above the mean of every chunk."""
    total, squares, count = moments
    mean = total / count
    deviation = max(squares / count - mean * mean, 0.0) ** 0.5
    return int(np.count_nonzero(stack[1] > mean + BRIGHT_SIGMAS * deviation))


def _build_normalised(corpus: Corpus) -> object:
    import dask.bag as db

    # every stack is held until the statistics of all are known: the held results outgrow target
    stacks = db.from_sequence(corpus.paths, npartitions=len(corpus.files)).map(stack_channels)
    moments = stacks.map(_moments).fold(_add)
    return stacks.map(bright_voxels, moments)


def check_bright_voxels(answer: list[int], corpus: Corpus) -> None:
    """The same counts computed here, one chunk at a time (two passes over the files)."""
    if len(answer) != len(corpus.files):
        raise AnswerMismatch(f"expected {len(corpus.files)} counts, got {len(answer)}")
    moments = (0.0, 0.0, 0)
    for path in corpus.paths:
        moments = _add(moments, _moments(stack_channels(path)))
    for count, path in zip(answer, corpus.paths):
        expected = bright_voxels(stack_channels(path), moments)
        if abs(count - expected) > 1:  # float sums in another order may move one voxel at the threshold
            raise AnswerMismatch(f"{path.name}: {count} bright voxels, expected {expected}")


imagechunks_normalised = Workload(
    name="imagechunks-normalised",
    version=1,
    description="Bright voxels per chunk against the mean of every chunk: each chunk's float64 stack (raw, "
                "smoothed) is held until all are known, so the held results outgrow a small worker's target "
                "and spill.",
    corpus_kind="images",
    build=_build_normalised,
    task_function=stack_channels,
    check=check_bright_voxels,
)
