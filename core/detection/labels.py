"""Which label file goes with which image: shipped labels for the shipped samples only.

The app ships hand-made ground truth for its two sample photos (``assets/labels/bus.txt``,
``zidane.txt``). They belong to those samples, never to a user's photo that happens to be
named ``bus.png``; a user's own label files are matched to any image by file stem, and win
over the shipped ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.detection.yolo import shipped_labels


@dataclass(frozen=True)
class ImageRef:
    """An image of the page: its (unique) name and whether it is one of the shipped samples."""

    name: str
    sample: bool


@dataclass(frozen=True)
class LabelMatch:
    """Label text per image name, where it came from, and label files no image matches."""

    texts: dict[str, str]  # image name -> YOLO label text
    sources: dict[str, str]  # image name -> label file name ("bus.txt", shipped or the user's)
    unmatched: tuple[str, ...]  # the user's label files with no image of that stem


def match_labels(
    images: Iterable[ImageRef],
    user_files: Mapping[str, str] | None = None,
    *,
    shipped: bool = True,
    names: Mapping[int, str] | None = None,
) -> LabelMatch:
    """Label text for each image that has some.

    Args:
        images: the images, in order; only those with ``sample=True`` get shipped labels.
        user_files: the user's label files, text by file name (``bus.txt``), matched by stem.
        shipped: False runs the samples without their shipped labels (unjudged, or judged
            by the user's own files only).
        names: the model's classes: they choose the shipped set (COCO photos or shape scenes).
    """
    images = list(images)
    texts, sources = {}, {}
    if shipped:
        labels = shipped_labels(names)
        for image in images:
            stem = Path(image.name).stem
            if image.sample and stem in labels:
                texts[image.name], sources[image.name] = labels[stem], f"{stem}.txt"
    unmatched = []
    for file_name, text in (user_files or {}).items():
        stem = Path(file_name).stem
        hits = [image.name for image in images if Path(image.name).stem == stem]
        for name in hits:
            texts[name], sources[name] = text, file_name
        if not hits:
            unmatched.append(file_name)
    return LabelMatch(texts, sources, tuple(sorted(unmatched)))
