"""Property-based tests: whatever bytes arrive, decoding gives an RGB image or an ImageError."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.errors import ImageError
from core.io.images import load_image
from tests.bad_images import encode

FORMATS = {
    "PNG": {"RGB", "RGBA", "L", "LA", "P", "I;16", "1"},  # Pillow 13 writes 32-bit "I" to PNG no more
    "JPEG": {"RGB", "L", "CMYK"},
    "TIFF": {"RGB", "RGBA", "L", "CMYK", "I;16", "I", "F", "1"},
    "GIF": {"P", "L"},
    "BMP": {"RGB", "L", "P"},
    "WEBP": {"RGB", "RGBA"},
}


def decodes_or_explains(data: bytes) -> None:
    try:
        image = load_image(data)
    except ImageError as exc:
        assert str(exc) and "Traceback" not in str(exc)
    else:
        assert image.mode == "RGB" and min(image.size) >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    decodes_or_explains(data)


FORMAT_AND_MODE = st.sampled_from(sorted(FORMATS)).flatmap(
    lambda fmt: st.tuples(st.just(fmt), st.sampled_from(sorted(FORMATS[fmt])))
)


@settings(max_examples=80, deadline=None)
@given(
    fmt_mode=FORMAT_AND_MODE,
    width=st.integers(1, 64),
    height=st.integers(1, 64),
    cut=st.one_of(st.none(), st.integers(0, 400)),
    seed=st.integers(0, 2**16),
)
def test_real_images_of_every_mode_size_and_truncation(fmt_mode, width, height, cut, seed) -> None:
    fmt, mode = fmt_mode
    rng = np.random.default_rng(seed)
    base = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), "RGB")
    image = base.convert(mode) if mode not in {"I;16", "I", "F"} else base.convert("L").convert(mode)
    data = encode(image, fmt)
    decodes_or_explains(data if cut is None else data[:cut])
    if cut is None and min(width, height) >= 8 and max(width, height) / min(width, height) <= 25:
        assert load_image(data).size == (width, height)
