"""The crop the model sees: one preprocessing for capture, attribution, datasets and training.

A model's torchvision preset (``ImageClassification``) resizes the shorter side to
``resize_size`` with its own interpolation (bicubic for EfficientNet, bilinear for most of the
zoo), centre-crops ``crop_size``, scales to [0, 1] and normalises. :class:`Preprocess` does the
same, at the preset's size or at another input size with the same resize-to-crop ratio, and can
stop half way: the training cache keeps the resized square (``resize`` pixels) as uint8 and crops
it every epoch. Every path gives the preset's tensor (tested to 1e-6 on each zoo family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from core.io.images import load_image


@dataclass(frozen=True)
class Preprocess:
    """How images become network inputs: resized so the shorter side is ``resize``, cropped to ``size``.

    ``mean`` and ``std`` come from the model's own preprocessing (torchvision's weights
    ``transforms()``); a model that declares none gets inputs in [0, 1].
    """

    size: int
    resize: int
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    interpolation: InterpolationMode = InterpolationMode.BILINEAR
    antialias: bool = True

    @classmethod
    def for_model(cls, transforms: Callable, size: int | None = None) -> Preprocess:
        """The model's preset at input ``size`` (default: its own crop), keeping its resize-to-crop
        ratio (256/224 for most of the zoo), interpolation and normalisation."""
        crop, resize = getattr(transforms, "crop_size", None), getattr(transforms, "resize_size", None)
        if size is None:
            if not crop:
                raise ValueError("size is needed for a model whose preprocessing declares no crop_size.")
            size = int(crop[0])
        if size < 16:
            raise ValueError(f"image_size must be at least 16 pixels, got {size}.")
        ratio = resize[0] / crop[0] if crop and resize else 1.0
        mean, std = getattr(transforms, "mean", None), getattr(transforms, "std", None)
        return cls(
            size,
            max(size, round(size * ratio)),
            tuple(mean) if mean else None,
            tuple(std) if std else None,
            getattr(transforms, "interpolation", InterpolationMode.BILINEAR),
            bool(getattr(transforms, "antialias", True)),
        )

    def square(self, image: Image.Image) -> Image.Image:
        """The shorter side resized to ``resize`` (the preset's interpolation), centre-cropped square."""
        resized = TF.resize(image, [self.resize], self.interpolation, antialias=self.antialias)
        return TF.center_crop(resized, [self.resize])

    def view(self, image: Image.Image) -> Image.Image:
        """``image`` as the network sees it: resized and centre-cropped to ``size``, for drawing on."""
        return TF.center_crop(self.square(image), [self.size])

    def decode(self, path: Path) -> torch.Tensor:
        """One image file as a uint8 (3, resize, resize) tensor (see :meth:`square`)."""
        return TF.pil_to_tensor(self.square(load_image(path))).contiguous()

    def centre(self, images: torch.Tensor) -> torch.Tensor:
        """The centre ``size`` x ``size`` crop of uint8 images (..., 3, resize, resize)."""
        offset = (self.resize - self.size) // 2
        return images[..., offset : offset + self.size, offset : offset + self.size]

    def picture(self, pixels: torch.Tensor) -> Image.Image:
        """One decoded image (3, resize, resize) as the network sees it at validation, for drawing on."""
        return Image.fromarray(self.centre(pixels).permute(1, 2, 0).numpy())

    def normalise(self, crops: torch.Tensor) -> torch.Tensor:
        """uint8 crops (B, 3, size, size) to float inputs: scaled to [0, 1], then the model's mean/std."""
        x = crops.float().div_(255)
        if self.mean is not None and self.std is not None:
            mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
            x = x.sub_(mean).div_(std)
        return x

    def to_input(self, image: Image.Image) -> torch.Tensor:
        """The ``(1, 3, size, size)`` float input for one RGB image."""
        return self.normalise(TF.pil_to_tensor(self.view(image))[None])

    def batch(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Float inputs from uint8 (B, 3, resize, resize): a centre crop, or with ``generator``
        a random crop and a random horizontal flip per image."""
        if generator is None:
            return self.normalise(self.centre(images))
        margin = self.resize - self.size
        tops, lefts = torch.randint(0, margin + 1, (2, len(images)), generator=generator).tolist()
        flips = torch.rand(len(images), generator=generator).lt(0.5).tolist()
        crops = torch.stack(
            [
                (img.flip(-1) if flip else img)[:, top : top + self.size, left : left + self.size]
                for img, top, left, flip in zip(images, tops, lefts, flips, strict=True)
            ]
        )
        return self.normalise(crops)
