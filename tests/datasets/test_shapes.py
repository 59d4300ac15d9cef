"""The generated shapes dataset: deterministic, tight boxes, ImageFolder output."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision.datasets import ImageFolder

from core.datasets import shapes


def background_residual(image: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every pixel from a plane fitted to the pixels well outside ``box``, and that outside mask.

    The generator paints a planar colour gradient plus noise, so the background fits a plane;
    pixels more than one pixel (the anti-aliasing) outside the box must be background.
    """
    size = image.shape[0]
    y, x = np.mgrid[0:size, 0:size]
    x0, y0, x1, y1 = box
    outside = (x < x0 - 1) | (x > x1) | (y < y0 - 1) | (y > y1)
    design = np.stack([x, y, np.ones_like(x)], axis=-1).reshape(-1, 3).astype(np.float64)
    pixels = image.reshape(-1, 3).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design[outside.ravel()], pixels[outside.ravel()], rcond=None)
    return np.linalg.norm(pixels - design @ coef, axis=1).reshape(size, size), outside


@pytest.mark.parametrize("name", shapes.CLASSES)
def test_boxes_hold_the_object_tightly(name: str) -> None:
    data = shapes.generate([name], 12, seed=5, split="test")
    for image, box in zip(data.images, data.boxes, strict=True):
        x0, y0, x1, y1 = box
        assert 0 <= x0 < x1 <= 64 and 0 <= y0 < y1 <= 64
        residual, outside = background_residual(image, box)
        # Outside: only noise (sd 12 per channel; 75 is over 6 sd of its norm).
        assert (residual[outside] > 75).sum() <= 1
        # Inside: the object, far from the background, fills much of its box (textures: about half of it).
        assert (residual[y0:y1, x0:x1] > 50).mean() > (0.2 if name in {"stripes", "checker", "ring"} else 0.35)
        # Tight: the clearly coloured pixels reach each side of the box (edge pixels are partly covered).
        rows, cols = np.nonzero(residual > 75)
        found = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
        assert np.abs(found - box).max() <= (2 if name in {"stripes", "checker"} else 1)


def test_generation_is_deterministic_and_independent_of_what_else_is_asked() -> None:
    first = shapes.generate(["circle", "star"], 4, seed=3)
    again = shapes.generate(["circle", "star"], 4, seed=3)
    assert np.array_equal(first.images, again.images) and np.array_equal(first.boxes, again.boxes)
    swapped = shapes.generate(["star", "circle"], 2, seed=3)
    assert np.array_equal(swapped.images[:2], first.images[4:6])  # star 0, 1
    assert swapped.labels.tolist() == [0, 0, 1, 1] and swapped.classes == ("star", "circle")
    other_seed = shapes.generate(["circle", "star"], 4, seed=4)
    other_split = shapes.generate(["circle", "star"], 4, seed=3, split="val")
    assert not np.array_equal(first.images, other_seed.images)
    assert not np.array_equal(first.images, other_split.images)
    assert first.images.dtype == np.uint8 and first.images.shape == (8, 64, 64, 3)


def test_images_vary_in_position_size_and_colour() -> None:
    data = shapes.generate(["square"], 50, seed=0)
    centres = (data.boxes[:, :2] + data.boxes[:, 2:]) / 2
    widths = data.boxes[:, 2] - data.boxes[:, 0]
    assert centres.std(axis=0).min() > 6 and widths.max() - widths.min() > 15
    assert data.images.reshape(50, -1, 3).mean(axis=1).std(axis=0).min() > 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"classes": ["circle", "hexagon"]}, "hexagon"),
        ({"classes": []}, "classes"),
        ({"classes": ["circle", "circle"]}, "repeat"),
        ({"per_class": 0}, "per_class"),
        ({"size": 8}, "size"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, match: str) -> None:
    arguments = {"classes": ["circle"], "per_class": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        shapes.generate(**arguments)


def test_write_imagefolder_writes_the_generated_images(tmp_path: Path) -> None:
    root = shapes.write_imagefolder(tmp_path / "new_shapes", shapes.TRANSFER_CLASSES, 3, 2, seed=7)
    train, val = ImageFolder(str(root / "train")), ImageFolder(str(root / "val"))
    assert train.classes == sorted(shapes.TRANSFER_CLASSES) and len(train) == 9 and len(val) == 6
    expected = shapes.generate(["ring"], 3, seed=7, split="train").images
    for i in range(3):
        assert np.array_equal(np.asarray(Image.open(root / "train" / "ring" / f"ring_{i:04d}.png")), expected[i])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new_shapes"]  # no partial folder left
    with pytest.raises(ValueError, match="already holds files"):
        shapes.write_imagefolder(root, ["ring"], 1, 1, seed=0)
