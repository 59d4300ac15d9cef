"""Tiny generated ImageFolder datasets and zips for the transfer-learning tests.

Each class has its own dominant colour plus noise, so even a random-weights backbone gives
features a linear head can separate.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

COLOURS = ((220, 40, 40), (40, 60, 220), (40, 200, 60))


def image_bytes(label: int, index: int, size: int = 40, fmt: str = "PNG") -> bytes:
    rng = np.random.default_rng(1000 * label + index)
    base = np.array(COLOURS[label % len(COLOURS)], dtype=np.int16)
    pixels = np.clip(base + rng.integers(-60, 60, (size, size + 8, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def make_dataset(
    root: Path, counts: dict[str, int] | None = None, val_counts: dict[str, int] | None = None, size: int = 40
) -> Path:
    """``root/train/<class>/*.png`` (and ``root/val/...`` when ``val_counts``), or flat classes."""
    counts = counts or {"ants": 12, "bees": 12}
    splits = {"train": counts, "val": val_counts} if val_counts is not None else {"": counts}
    for split, per_class in splits.items():
        for label, (name, count) in enumerate(per_class.items()):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                (folder / f"{name}_{i:03d}.png").write_bytes(
                    image_bytes(label, i + (10_000 if split == "val" else 0), size)
                )
    return root


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def dataset_zip(prefix: str = "shapes/", counts: dict[str, int] | None = None) -> bytes:
    counts = counts or {"ants": 4, "bees": 4}
    members = {
        f"{prefix}{name}/{name}_{i}.png": image_bytes(label, i)
        for label, (name, count) in enumerate(counts.items())
        for i in range(count)
    }
    return zip_bytes(members)
