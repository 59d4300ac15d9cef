"""ConvLens shapes: a generated image dataset of coloured shapes and textures on noisy backgrounds.

Every image holds one object whose tight bounding box is known, so attributions can be
checked against it. Images are deterministic: image ``i`` of class ``c`` in split ``s``
depends only on ``(seed, s, c, i, size)``, not on how many images or which other classes
are asked for, so splits never share an image.

The classroom model learns :data:`BASE_CLASSES`; :data:`TRANSFER_CLASSES` are new to it, for
the transfer-learning demo (:func:`write_imagefolder` writes them as an ImageFolder dataset).
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

BASE_CLASSES = ("circle", "square", "triangle", "star", "cross", "stripes")
TRANSFER_CLASSES = ("ring", "arrow", "checker")
CLASSES = BASE_CLASSES + TRANSFER_CLASSES
MIN_SIZE = 32  # pixels a side
_SUPERSAMPLE = 4  # outlines are drawn this many times larger, then averaged down: smooth edges
_MIN_CONTRAST = 110.0  # RGB distance between an object's colour and its background's
_NOISE = 12.0  # standard deviation of the pixel noise, in 0-255 units


@dataclass(frozen=True)
class ShapeSet:
    """Generated images with their labels and object boxes."""

    images: np.ndarray  # (N, size, size, 3) uint8
    labels: np.ndarray  # (N,) int64, indices into ``classes``
    boxes: np.ndarray  # (N, 4) int64: x0, y0, x1, y1 in pixels; x1 and y1 exclusive
    classes: tuple[str, ...]


def _star(points: int, inner: float) -> np.ndarray:
    """Corners of a regular polygon (``inner`` = 1) or star on the unit circle, shape (K, 2)."""
    steps = points * (1 if inner == 1 else 2)
    angles = 2 * np.pi * np.arange(steps) / steps
    radii = np.where(np.arange(steps) % 2 == 1, inner, 1.0)
    return np.stack([np.cos(angles) * radii, np.sin(angles) * radii], axis=1)


def _scaled_to_area(points: np.ndarray) -> np.ndarray:
    """``points`` scaled so that the polygon covers :data:`_AREA` (shoelace formula)."""
    x, y = points.T
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    return points * np.sqrt(_AREA / area)


# Every object covers the same area for a given size, so that how much background an image
# shows says nothing about the class: the model has to look at the object itself.
_AREA = 1.25  # in units of the object's radius squared; a triangle this large just fits in its circle
_ARM = 0.34  # half-width of the cross's arms
_QUARTER_TURN = np.array([[0, 1], [-1, 0]])  # (x, y) @ it = (-y, x)
_CROSS_ARM = np.array([[-_ARM, -1], [_ARM, -1], [_ARM, -_ARM]])  # an arm's end and the corner after it
# Outlines inside the unit circle (drawn rotated, scaled and moved); circles and rings are ellipses.
_OUTLINES = {
    name: _scaled_to_area(points)
    for name, points in {
        "square": _star(4, 1),
        "triangle": _star(3, 1),
        "star": _star(5, 0.45),
        "cross": np.concatenate([_CROSS_ARM @ np.linalg.matrix_power(_QUARTER_TURN, k) for k in range(4)]),
        "arrow": np.array(
            [[-0.85, -0.25], [0.15, -0.25], [0.15, -0.7], [0.9, 0], [0.15, 0.7], [0.15, 0.25], [-0.85, 0.25]]
        ),
    }.items()
}
_CIRCLE = np.sqrt(_AREA / np.pi)  # radius
_RING_HOLE = 0.55  # inner radius over outer radius
_RING = np.sqrt(_AREA / (np.pi * (1 - _RING_HOLE**2)))
_TEXTURES = {"stripes", "checker"}


def _check(classes: Sequence[str], count: int, count_name: str, size: int) -> tuple[str, ...]:
    classes = tuple(classes)
    unknown = [c for c in classes if c not in CLASSES]
    if not classes or unknown:
        raise ValueError(f"classes must name shapes from {', '.join(CLASSES)}; got {list(classes)}.")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must not repeat a name; got {list(classes)}.")
    if count < 1:
        raise ValueError(f"{count_name} must be at least 1, got {count}.")
    if size < MIN_SIZE:
        raise ValueError(f"size must be at least {MIN_SIZE} pixels, got {size}.")
    return classes


def _colour_far_from(rng: np.random.Generator, other: np.ndarray) -> np.ndarray:
    while True:
        colour = rng.uniform(0, 255, 3)
        if np.linalg.norm(colour - other) >= _MIN_CONTRAST:
            return colour


def _mask(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """The object's coverage of each pixel, (size, size) float32 in [0, 1]."""
    radius = rng.uniform(0.2, 0.45) * size
    centre = rng.uniform(radius + 1, size - radius - 1, 2)
    angle = rng.uniform(0, 2 * np.pi)
    scale = _SUPERSAMPLE
    canvas = Image.new("L", (size * scale, size * scale), 0)
    draw = ImageDraw.Draw(canvas)
    outline = ("square" if rng.random() < 0.5 else "circle") if name in _TEXTURES else name
    cx, cy, r = centre[0] * scale, centre[1] * scale, radius * scale
    if outline in {"circle", "ring"}:
        outer = r * (_CIRCLE if outline == "circle" else _RING)
        draw.ellipse([cx - outer, cy - outer, cx + outer, cy + outer], fill=255)
        if outline == "ring":
            inner = outer * _RING_HOLE
            draw.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=0)
    else:
        cos, sin = np.cos(angle), np.sin(angle)
        points = _OUTLINES[outline] @ np.array([[cos, sin], [-sin, cos]]) * r + (cx, cy)
        draw.polygon([tuple(p) for p in points], fill=255)
    return np.asarray(canvas.reduce(scale), dtype=np.float32) / 255.0


def _texture(name: str, rng: np.random.Generator, size: int) -> np.ndarray:
    """Stripes or a checkerboard at a random angle and period, (size, size) float32 in [0, 1]."""
    period = rng.uniform(4.0, 8.0)
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    u = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    if name == "checker":
        u = u * np.sin(2 * np.pi * (-x * np.sin(angle) + y * np.cos(angle)) / period)
    return np.clip(0.5 + 2.0 * u, 0.0, 1.0)


def render(name: str, rng: np.random.Generator, size: int = 64) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """One image of class ``name``: (size, size, 3) uint8 and the object's box (x0, y0, x1, y1)."""
    background = rng.uniform(0, 255, 3)
    colour = _colour_far_from(rng, background)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    slope = rng.uniform(-40, 40, 2)
    image = background + (x * slope[0] + y * slope[1])[..., None]
    mask = _mask(name, rng, size)
    fill = np.broadcast_to(colour, (size, size, 3))
    if name in _TEXTURES:
        second = _colour_far_from(rng, colour)
        fill = colour + _texture(name, rng, size)[..., None] * (second - colour)
    image = image * (1 - mask[..., None]) + fill * mask[..., None]
    image += rng.normal(0.0, _NOISE, image.shape)
    rows, cols = np.nonzero(mask.max(axis=1) > 0.25)[0], np.nonzero(mask.max(axis=0) > 0.25)[0]
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    return np.clip(image, 0, 255).round().astype(np.uint8), box


def _rng(seed: int, split: str, name: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(split.encode()), zlib.crc32(name.encode()), index])


def generate(classes: Sequence[str], per_class: int, seed: int, split: str = "train", size: int = 64) -> ShapeSet:
    """Generate ``per_class`` images of each class, class after class.

    Args:
        classes: names from :data:`CLASSES`; label ``k`` is ``classes[k]``.
        per_class: images per class.
        seed: any non-negative integer; with ``split`` it decides every pixel.
        split: a name such as ``"train"``, ``"val"`` or ``"test"``; each split is an independent stream.
        size: image side in pixels.

    Raises:
        ValueError: unknown or repeated class names, ``per_class`` < 1, or ``size`` too small.
    """
    classes = _check(classes, per_class, "per_class", size)
    images = np.empty((len(classes) * per_class, size, size, 3), dtype=np.uint8)
    boxes = np.empty((len(classes) * per_class, 4), dtype=np.int64)
    for k, name in enumerate(classes):
        for i in range(per_class):
            images[k * per_class + i], boxes[k * per_class + i] = render(name, _rng(seed, split, name, i), size)
    labels = np.repeat(np.arange(len(classes), dtype=np.int64), per_class)
    return ShapeSet(images, labels, boxes, classes)


def write_imagefolder(
    root: str | Path,
    classes: Sequence[str] = TRANSFER_CLASSES,
    per_class_train: int = 60,
    per_class_val: int = 30,
    seed: int = 0,
    size: int = 64,
) -> Path:
    """Write a generated dataset in ImageFolder layout: ``root/{train,val}/<class>/<class>_NNNN.png``.

    The folder appears complete or not at all (it is written beside ``root``, then renamed).

    Returns:
        ``root``.

    Raises:
        ValueError: ``root`` exists and is not empty, or the arguments are invalid (see :func:`generate`).
    """
    root = Path(root)
    classes = _check(classes, min(per_class_train, per_class_val), "per_class_train and per_class_val", size)
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"root {root} already holds files; choose a new or empty folder.")
    partial = root.with_name(f".{root.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for split, count in (("train", per_class_train), ("val", per_class_val)):
        for name in classes:
            folder = partial / split / name
            folder.mkdir(parents=True)
            for i in range(count):
                pixels, _ = render(name, _rng(seed, split, name, i), size)
                Image.fromarray(pixels).save(folder / f"{name}_{i:04d}.png")
    if root.exists():
        root.rmdir()
    partial.rename(root)
    return root
