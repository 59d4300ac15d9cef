"""Decode each image once into a uint8 tensor cache; crop, flip and normalise batches from it.

Images are decoded and resized a single time by :class:`core.io.preprocess.Preprocess` (the
model's own preset), to a square a little larger than the network's input. Every epoch then
only slices that cache: a centre crop for validation, a random crop and horizontal flip for
training with augmentation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch

from core.datasets.folders import Sample, SkippedFile
from core.errors import ImageError
from core.io.preprocess import Preprocess


@dataclass(frozen=True, eq=False)
class ImageTensors:
    """One split decoded once: uint8 images (N, 3, R, R), their labels and source files."""

    images: torch.Tensor
    labels: torch.Tensor
    paths: tuple[Path, ...]
    skipped: tuple[SkippedFile, ...]

    def __len__(self) -> int:
        return len(self.paths)


def decode_split(
    samples: Sequence[Sample],
    preprocess: Preprocess,
    root: Path,
    progress: Callable[[int, int], None] | None = None,
) -> ImageTensors:
    """Decode ``samples`` in parallel threads; files that fail to decode are skipped and reported.

    Args:
        samples: the images and labels.
        preprocess: sizes of the cache.
        root: paths in ``skipped`` are relative to it.
        progress: called with (done, total) after each image; an exception it raises (a
            cancel) stops decoding at once.
    """

    def one(sample: Sample) -> torch.Tensor | str:
        try:
            return preprocess.decode(sample.path)
        except ImageError as exc:
            return str(exc)

    kept, labels, paths, skipped = [], [], [], []
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        for done, (sample, result) in enumerate(zip(samples, pool.map(one, samples), strict=True), start=1):
            if isinstance(result, torch.Tensor):
                kept.append(result)
                labels.append(sample.label)
                paths.append(sample.path)
            else:
                skipped.append(SkippedFile(str(sample.path.relative_to(root)), result))
            if progress is not None:
                progress(done, len(samples))
    finally:
        pool.shutdown(cancel_futures=True)
    side = preprocess.resize
    images = torch.stack(kept) if kept else torch.empty(0, 3, side, side, dtype=torch.uint8)
    return ImageTensors(images, torch.tensor(labels, dtype=torch.long), tuple(paths), tuple(skipped))
