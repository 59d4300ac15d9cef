"""Small square previews of a dataset's images for the page."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps

from core.datasets.folders import Dataset
from core.errors import ImageError
from core.io.images import load_image


def thumbnail(path: Path, side: int = 160) -> Image.Image | None:
    """A small square (centre) crop of the image at ``path`` for the page, or None when it cannot be decoded."""
    try:
        return ImageOps.fit(load_image(path), (side, side), Image.BILINEAR)
    except ImageError:
        return None


def thumbnails(dataset: Dataset, per_class: int = 4, side: int = 160) -> list[tuple[str, list[Image.Image]]]:
    """The first readable training images of each class, shrunk for the page."""
    found = []
    for label, name in enumerate(dataset.classes):
        pictures: list[Image.Image] = []
        for sample in (s for s in dataset.train if s.label == label):
            if len(pictures) == per_class:
                break
            if (picture := thumbnail(sample.path, side)) is not None:
                pictures.append(picture)
        found.append((name, pictures))
    return found
