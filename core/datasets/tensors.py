"""Decode each image once into a uint8 tensor cache; crop, flip and normalise batches from it.

Images are decoded (with :func:`core.io.images.load_image`) and resized a single time, to a
square a little larger than the network's input, as torchvision's ``Resize`` then
``CenterCrop`` would do. Every epoch then only slices that cache: a centre crop for
validation, a random crop and horizontal flip for training with augmentation.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.datasets.folders import Sample, SkippedFile
from core.errors import ImageError
from core.io.images import load_image


@dataclass(frozen=True)
class Preprocess:
    """How images become network inputs: cached at ``resize`` pixels, cropped to ``size``.

    ``mean`` and ``std`` come from the model's own preprocessing (torchvision's weights
    ``transforms()``); a model that declares none gets inputs in [0, 1].
    """

    size: int
    resize: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None

    @classmethod
    def for_model(cls, transforms: Callable, size: int) -> Preprocess:
        """Keep the model's resize-to-crop ratio (256/224 for most of the zoo) at input ``size``."""
        if size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {size}.")
        crop, resize = getattr(transforms, "crop_size", None), getattr(transforms, "resize_size", None)
        ratio = resize[0] / crop[0] if crop and resize else 1.0
        mean, std = getattr(transforms, "mean", None), getattr(transforms, "std", None)
        return cls(size, max(size, round(size * ratio)), tuple(mean) if mean else None, tuple(std) if std else None)

    def decode(self, path: Path) -> torch.Tensor:
        """One image file as a uint8 (3, resize, resize) tensor: shorter side resized, centre cropped."""
        image = load_image(path)
        scale = self.resize / min(image.size)
        width, height = max(self.resize, round(image.width * scale)), max(self.resize, round(image.height * scale))
        image = image.resize((width, height), Image.BILINEAR)
        left, top = (width - self.resize) // 2, (height - self.resize) // 2
        image = image.crop((left, top, left + self.resize, top + self.resize))
        return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1).contiguous()

    def centre(self, images: torch.Tensor) -> torch.Tensor:
        """The centre ``size`` x ``size`` crop of uint8 images (..., 3, resize, resize)."""
        offset = (self.resize - self.size) // 2
        return images[..., offset : offset + self.size, offset : offset + self.size]

    def picture(self, pixels: torch.Tensor) -> Image.Image:
        """One decoded image (3, resize, resize) as the network sees it at validation, for drawing on."""
        return Image.fromarray(self.centre(pixels).permute(1, 2, 0).numpy())

    def batch(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Float inputs from uint8 (B, 3, resize, resize): a centre crop, or with ``generator``
        a random crop and a random horizontal flip per image."""
        margin = self.resize - self.size
        if generator is None:
            crops = self.centre(images)
        else:
            tops, lefts = torch.randint(0, margin + 1, (2, len(images)), generator=generator).tolist()
            flips = torch.rand(len(images), generator=generator).lt(0.5).tolist()
            crops = torch.stack(
                [
                    (img.flip(-1) if flip else img)[:, top : top + self.size, left : left + self.size]
                    for img, top, left, flip in zip(images, tops, lefts, flips, strict=True)
                ]
            )
        x = crops.float().div_(255)
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
            x = x.sub_(mean).div_(std)
        return x


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
