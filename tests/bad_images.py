"""Generators of the bad and awkward images listed in DESIGN.md (shared by several tests)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares an enormous image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def exif_rotated() -> bytes:
    """A 64x48 JPEG whose EXIF says 'rotate 90 degrees' (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(photo(), "JPEG", exif=exif.tobytes())


def animated_gif() -> bytes:
    frames = [Image.new("P", (32, 32), i) for i in (10, 200)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def transparent_palette() -> bytes:
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    return encode(image, "PNG", transparency=0)


# name -> (bytes, substring the error message must contain)
BAD = {
    "empty": (b"", "empty"),
    "truncated jpeg": (encode(photo(), "JPEG")[:300], "truncated"),
    "text named .jpg": (b"this is not an image, just text\n" * 10, "not an image"),
    "decompression bomb": (png_bomb(), "pixels"),
    "1x1": (encode(Image.new("RGB", (1, 1)), "PNG"), "1x1"),
    "4000x3": (encode(Image.new("RGB", (4000, 3)), "PNG"), "4000x3"),
}
# name -> (bytes, expected RGB size after decoding)
AWKWARD = {
    "cmyk jpeg": (encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG"), (40, 30)),
    "16-bit png": (encode(Image.fromarray(np.full((30, 40), 40000, np.uint16)), "PNG"), (40, 30)),
    "rgba png": (encode(Image.new("RGBA", (40, 30), (255, 0, 0, 0)), "PNG"), (40, 30)),
    "la png": (encode(Image.new("LA", (40, 30), (128, 255)), "PNG"), (40, 30)),
    "palette with transparency": (transparent_palette(), (32, 32)),
    "animated gif": (animated_gif(), (32, 32)),
    "exif rotated": (exif_rotated(), (48, 64)),
    "grayscale": (encode(Image.new("L", (40, 30), 77), "PNG"), (40, 30)),
}
