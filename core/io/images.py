"""Decode user images into RGB PIL images, safely.

Handles every PIL mode (L, LA, P, RGBA, CMYK, I;16, I, F), applies EXIF rotation, takes the
first frame of animations, and refuses what a CNN cannot use (empty or truncated files,
non-images, decompression bombs, 1x1 or 4000x3 images) with a message that says what to do.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from core.config import limits
from core.errors import ImageError

ImageSource = bytes | bytearray | str | Path | BinaryIO

_FORMATS_HINT = "Use a JPEG, PNG, WebP, BMP, TIFF or GIF file."


def _read_bytes(source: ImageSource) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "The image"
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            return path.read_bytes(), f"'{path.name}'"
        except OSError as exc:
            raise ImageError(f"Cannot read '{path}': {exc.strerror or exc}.") from None
    name = getattr(source, "name", None)
    data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    return data, f"'{Path(name).name}'" if name else "The image"


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited over white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}:
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16"):
            scaled = values / 257.0
        else:  # float or 32-bit: stretch the finite values; NaN and -inf show as black, +inf as white
            finite = np.isfinite(values)
            low, high = (float(values[finite].min()), float(values[finite].max())) if finite.any() else (0.0, 0.0)
            values = np.where(finite, values, np.where(values == np.inf, high, low))
            scaled = (values - low) * (255.0 / (high - low)) if high > low else values * 0
        image = Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), mode="L")
        mode = "L"
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in {"RGBA", "LA", "PA", "RGBa", "La"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def image_nbytes(image: Image.Image) -> int:
    """The memory a decoded PIL image holds (width x height x bands, one byte each for RGB/L)."""
    return image.width * image.height * len(image.getbands())


def load_image(source: ImageSource, *, max_pixels: float | None = None) -> Image.Image:
    """Decode ``source`` (bytes, a path or a file object) into an RGB image.

    Args:
        source: the encoded image.
        max_pixels: refuse images with more pixels (default :data:`core.config.limits.IMAGE_PIXELS`).

    Returns:
        A fully loaded RGB image with its EXIF orientation applied.

    Raises:
        ImageError: the data is empty, not an image, truncated, too large or too thin.
    """
    data, name = _read_bytes(source)
    if not data:
        raise ImageError(f"{name} is empty (0 bytes). Choose the file again or use another one.")
    pixel_limit = limits.IMAGE_PIXELS if max_pixels is None else limits.Limit(max_pixels, limits.IMAGE_PIXELS.message)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # PIL only warns about some corrupt files: treat them as errors
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the pixel limit is checked below
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            pixel_limit.check(width * height, name=name, width=width, height=height)
            image.seek(0)  # first frame of an animated GIF / WebP / multi-page TIFF
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except UnidentifiedImageError:
        raise ImageError(f"{name} is not an image that can be read. {_FORMATS_HINT}") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{name} declares too many pixels (a decompression bomb?). {_FORMATS_HINT}") from None
    except limits.LimitExceeded as exc:
        raise ImageError(str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, Warning) as exc:
        raise ImageError(
            f"{name} could not be decoded ({exc}); the file may be truncated or damaged. "
            "Save it again or use another file."
        ) from None
    width, height = rgb.size
    if min(width, height) < limits.MIN_IMAGE_SIDE:
        raise ImageError(
            f"{name} is {width}x{height} pixels; at least {limits.MIN_IMAGE_SIDE} pixels a side are "
            "needed for a CNN to see anything. Use a larger image."
        )
    try:
        limits.IMAGE_ASPECT.check(max(width, height) / min(width, height), name=name, width=width, height=height)
    except limits.LimitExceeded as exc:
        raise ImageError(str(exc)) from None
    return rgb
