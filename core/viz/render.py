"""Arrays to pictures: normalisation, colormaps, overlays and tiled grids, all in NumPy.

One image built with NumPy draws a 2048-channel layer in milliseconds, where hundreds of
Plotly subplots would take seconds; pages show these images with ``st.image``.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

COLORMAPS = ("viridis", "inferno", "magma", "jet", "turbo", "gray", "RdBu_r")


def normalize(values: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """Scale to [0, 1] by min and max (over ``axis``, or everything); flat inputs become 0."""
    values = np.asarray(values, dtype=np.float32)
    low = values.min(axis=axis, keepdims=True)
    span = values.max(axis=axis, keepdims=True) - low
    return np.divide(values - low, span, out=np.zeros_like(values), where=span > 0)


@functools.cache
def colormap_lut(name: str) -> np.ndarray:
    """A (256, 3) uint8 lookup table for a Matplotlib colormap name."""
    if name not in COLORMAPS:
        raise ValueError(f"colormap {name!r} is not offered; choose one of {', '.join(COLORMAPS)}.")
    from matplotlib import colormaps  # imported on first use: keeps the app's start-up fast

    return (colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def apply_colormap(values01: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Map values in [0, 1] (any shape) to RGB uint8 (shape + (3,))."""
    index = np.clip(np.nan_to_num(np.asarray(values01, dtype=np.float32)) * 255, 0, 255).astype(np.uint8)
    return colormap_lut(name)[index]


def resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a 2-D float map to ``size`` = (width, height) with bilinear interpolation."""
    return np.asarray(Image.fromarray(np.asarray(values, dtype=np.float32), mode="F").resize(size, Image.BILINEAR))


def overlay(image: Image.Image, heat01: np.ndarray, alpha: float = 0.5, cmap: str = "jet") -> Image.Image:
    """Blend a [0, 1] heatmap (any resolution) over ``image``; ``alpha`` is the heatmap's opacity."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}.")
    heat = apply_colormap(resize_map(heat01, image.size), cmap).astype(np.float32)
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    return Image.fromarray((base * (1 - alpha) + heat * alpha).round().astype(np.uint8))


def tile(maps: np.ndarray, columns: int | None = None, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Arrange ``maps`` of shape (N, H, W) or (N, H, W, C) in a grid with ``pad`` pixels between.

    Returns one array of shape (rows*(H+pad)-pad, cols*(W+pad)-pad[, C]); empty cells hold ``pad_value``.
    """
    maps = np.asarray(maps)
    if maps.ndim not in (3, 4) or maps.shape[0] == 0:
        raise ValueError(f"maps must be a non-empty (N, H, W) or (N, H, W, C) array, got shape {maps.shape}.")
    count, height, width = maps.shape[:3]
    columns = columns or int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    grid = np.full(
        (rows * (height + pad) - pad, columns * (width + pad) - pad, *maps.shape[3:]), pad_value, dtype=maps.dtype
    )
    for i in range(count):
        r, c = divmod(i, columns)
        grid[r * (height + pad) : r * (height + pad) + height, c * (width + pad) : c * (width + pad) + width] = maps[i]
    return grid


def upscale_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge by an integer factor with visible pixels (for 3x3 kernels and 7x7 maps)."""
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def to_png(image: Image.Image | np.ndarray) -> bytes:
    """Encode as PNG bytes (for download buttons)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
