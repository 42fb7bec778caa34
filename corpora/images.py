"""Synthetic microscope volumes: Gaussian spots over a background gradient, with noise.

Spots sit one per chosen cell of a coarse grid, so they never touch: the generator's spot
centres are the ground truth a spot detector must find.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GENERATOR_VERSION", "ImageChunkSpec", "generate_image_chunk", "plan_image_corpus"]

GENERATOR_VERSION = 1

# Depth in slices of 256×256 uint16 (128 KiB a slice) at scale 1.0: 16–64 MiB a volume.
BASE_DEPTHS = (128, 320, 192, 512, 256, 416)
BASE_SIDE = 256
MIN_SIDE = 24
MIN_DEPTH = 16
CELL = 16  # grid cell edge in voxels; one spot at most per cell
SPOT_SIGMA = 1.5
SPOT_RADIUS = 4
SPOT_AMPLITUDE = (400.0, 1500.0)
NOISE_SD = 8.0
BACKGROUND = (100.0, 400.0)  # gradient along x, in raw counts


@dataclass(frozen=True)
class ImageChunkSpec:
    name: str
    index: int
    shape: tuple[int, int, int]


def plan_image_corpus(scale: float, seed: int) -> list[ImageChunkSpec]:
    """Volumes whose voxel count scales linearly with ``scale`` (each side by its cube root)."""
    factor = scale ** (1.0 / 3.0)
    side = max(MIN_SIDE, round(BASE_SIDE * factor))
    return [
        ImageChunkSpec(f"chunk-{i:02d}.npy", i, (max(MIN_DEPTH, round(depth * factor)), side, side))
        for i, depth in enumerate(BASE_DEPTHS)
    ]


def _spot_kernel() -> np.ndarray:
    axis = np.arange(-SPOT_RADIUS, SPOT_RADIUS + 1, dtype=np.float64)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    return np.exp(-(z**2 + y**2 + x**2) / (2 * SPOT_SIGMA**2))


def generate_image_chunk(spec: ImageChunkSpec, seed: int, path: Path) -> dict[str, Any]:
    """Write ``spec`` as a .npy volume and return the planted spot centres (z, y, x)."""
    rng = np.random.default_rng([seed, 3, spec.index])
    depth, height, width = spec.shape
    volume = rng.normal(0.0, NOISE_SD, size=spec.shape).astype(np.float32)
    volume += np.linspace(*BACKGROUND, width, dtype=np.float32)[None, None, :]

    kernel = _spot_kernel().astype(np.float32)
    centres = []
    for cz in range(depth // CELL):
        for cy in range(height // CELL):
            for cx in range(width // CELL):
                if rng.random() >= 0.25:
                    continue
                jitter = rng.integers(-2, 3, size=3)
                centre = np.array([cz, cy, cx]) * CELL + CELL // 2 + jitter
                amplitude = np.float32(rng.uniform(*SPOT_AMPLITUDE))
                low, high = centre - SPOT_RADIUS, centre + SPOT_RADIUS + 1
                volume[low[0] : high[0], low[1] : high[1], low[2] : high[2]] += amplitude * kernel
                centres.append([int(c) for c in centre])
    raw = np.clip(np.rint(volume), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    with open(path, "wb") as handle:
        np.save(handle, raw, allow_pickle=False)
    return {"shape": list(spec.shape), "spots": centres}
