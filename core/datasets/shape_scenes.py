"""ConvLens detection shapes: several shapes per image on textured backgrounds, written in YOLO format.

Each image holds 1 to :data:`MAX_OBJECTS` objects of several classes and sizes that never
overlap, on a smooth random texture with pixel noise. Every object's box is the tight box of
its drawn mask, so the labels are exact. Image ``i`` of split ``s`` depends only on
``(seed, s, i, size, classes)``; background, objects and noise come from separate random
streams, so :func:`render_scene` with ``objects=False`` gives the same image without its objects
(the tests' oracle).

The classroom detector learns :data:`DET_BASE_CLASSES`; :data:`DET_TRANSFER_CLASSES` are new to
it, for the detection-transfer lesson.
"""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.datasets.shapes import BASE_CLASSES, CLASSES, TRANSFER_CLASSES, _colour_far_from, _mask, _texture

DET_BASE_CLASSES = BASE_CLASSES
DET_TRANSFER_CLASSES = TRANSFER_CLASSES
MAX_OBJECTS = 4
MIN_IMAGE = 48  # pixels a side
_PATCH = (0.22, 0.5)  # an object's square patch, as a fraction of the image side
_MIN_PATCH = 20  # pixels: room for the largest object outline inside its patch
_TEXTURED = {"stripes", "checker"}
_NOISE = 10.0


@dataclass(frozen=True)
class Scene:
    """One generated image with its objects' boxes, classes and masks."""

    image: np.ndarray  # (size, size, 3) uint8
    boxes: np.ndarray  # (N, 4) int64: x0, y0, x1, y1 in pixels, x1 and y1 exclusive
    labels: np.ndarray  # (N,) int64, indices into the classes asked for
    masks: np.ndarray  # (N, size, size) float32 coverage in [0, 1]


def _rng(seed: int, split: str, index: int, stream: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(split.encode()), index, zlib.crc32(stream.encode())])


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A smooth random texture: two colours mixed by upsampled low-resolution noise, (size, size, 3) float."""
    first = rng.uniform(0, 255, 3)
    second = np.clip(first + rng.uniform(-70, 70, 3), 0, 255)
    cells = int(rng.integers(3, 7))
    coarse = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    mix = np.asarray(coarse.resize((size, size), Image.Resampling.BICUBIC), dtype=np.float32)[..., None] / 255
    return first * (1 - mix) + second * mix


def _place(rng: np.random.Generator, size: int, count: int) -> list[tuple[int, int, int]]:
    """Up to ``count`` non-overlapping square patches ``(x, y, side)`` (rejection sampling)."""
    placed: list[tuple[int, int, int]] = []
    for _ in range(40 * count):
        if len(placed) == count:
            break
        side = max(_MIN_PATCH, int(rng.uniform(*_PATCH) * size))
        x, y = (int(v) for v in rng.integers(0, size - side + 1, 2))
        if all(x + side <= px or px + ps <= x or y + side <= py or py + ps <= y for px, py, ps in placed):
            placed.append((x, y, side))
    return placed


def render_scene(
    classes: Sequence[str], seed: int, split: str, index: int, size: int = 160, *, objects: bool = True
) -> Scene:
    """Image ``index`` of ``split``; ``objects=False`` gives the same background and noise without the objects."""
    bg_rng, obj_rng = _rng(seed, split, index, "background"), _rng(seed, split, index, "objects")
    image = _background(bg_rng, size)
    boxes, labels, masks = [], [], []
    for x, y, side in _place(obj_rng, size, int(obj_rng.integers(1, MAX_OBJECTS + 1))):
        label = int(obj_rng.integers(len(classes)))
        name = classes[label]
        patch = _mask(name, obj_rng, side)
        mask = np.zeros((size, size), np.float32)
        mask[y : y + side, x : x + side] = patch
        local = image[y : y + side, x : x + side].reshape(-1, 3).mean(axis=0)
        colour = _colour_far_from(obj_rng, local)
        fill = np.broadcast_to(colour, (side, side, 3))
        if name in _TEXTURED:
            second = _colour_far_from(obj_rng, colour)
            fill = colour + _texture(name, obj_rng, side)[..., None] * (second - colour)
        if objects:
            region = image[y : y + side, x : x + side]
            region[:] = region * (1 - patch[..., None]) + fill * patch[..., None]
        rows, cols = np.nonzero(mask.max(axis=1) > 0.25)[0], np.nonzero(mask.max(axis=0) > 0.25)[0]
        boxes.append((cols[0], rows[0], cols[-1] + 1, rows[-1] + 1))
        labels.append(label)
        masks.append(mask)
    image = image + _rng(seed, split, index, "noise").normal(0.0, _NOISE, image.shape)
    return Scene(
        np.clip(image, 0, 255).round().astype(np.uint8),
        np.asarray(boxes, np.int64).reshape(-1, 4),
        np.asarray(labels, np.int64),
        np.asarray(masks, np.float32).reshape(-1, size, size),
    )


def _check(classes: Sequence[str], counts: Sequence[int], size: int) -> tuple[str, ...]:
    classes = tuple(classes)
    if not classes or any(c not in CLASSES for c in classes) or len(set(classes)) != len(classes):
        raise ValueError(f"classes must name distinct shapes from {', '.join(CLASSES)}; got {list(classes)}.")
    if min(counts) < 1:
        raise ValueError(f"image counts must be at least 1, got {list(counts)}.")
    if size < MIN_IMAGE:
        raise ValueError(f"size must be at least {MIN_IMAGE} pixels, got {size}.")
    return classes


def yolo_lines(scene: Scene, size: int) -> str:
    """The scene's YOLO label file: ``class cx cy w h`` per object, normalised to [0, 1]."""
    lines = []
    for (x0, y0, x1, y1), label in zip(scene.boxes.tolist(), scene.labels.tolist(), strict=True):
        cx, cy, w, h = (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size
        lines.append(f"{label} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return "\n".join(lines) + ("\n" if lines else "")


def data_yaml(root: Path, classes: Sequence[str]) -> str:
    """An Ultralytics ``data.yaml`` for a dataset at ``root`` (absolute path; no download key)."""
    names = "\n".join(f"  {k}: {name}" for k, name in enumerate(classes))
    return f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n"


def write_yolo_dataset(
    root: str | Path,
    classes: Sequence[str] = DET_BASE_CLASSES,
    train_images: int = 400,
    val_images: int = 100,
    seed: int = 0,
    size: int = 160,
) -> Path:
    """Write ``root/images/{train,val}/*.png``, ``root/labels/{train,val}/*.txt`` and ``root/data.yaml``.

    The folder appears complete or not at all (written beside ``root``, then renamed).

    Returns:
        The path of ``data.yaml``.

    Raises:
        ValueError: ``root`` exists and is not empty, or invalid classes, counts or size.
    """
    root = Path(root)
    classes = _check(classes, (train_images, val_images), size)
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"root {root} already holds files; choose a new or empty folder.")
    partial = root.with_name(f".{root.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for split, count in (("train", train_images), ("val", val_images)):
        (partial / "images" / split).mkdir(parents=True)
        (partial / "labels" / split).mkdir(parents=True)
        for i in range(count):
            scene = render_scene(classes, seed, split, i, size)
            Image.fromarray(scene.image).save(partial / "images" / split / f"{split}_{i:05d}.png")
            (partial / "labels" / split / f"{split}_{i:05d}.txt").write_text(yolo_lines(scene, size))
    (partial / "data.yaml").write_text(data_yaml(root, classes))
    if root.exists():
        root.rmdir()
    partial.rename(root)
    return root / "data.yaml"
