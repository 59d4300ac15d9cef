import io

import numpy as np
import pytest
from PIL import Image

from core.errors import ImageError
from core.io.images import load_image
from tests.bad_images import AWKWARD, BAD, encode, photo


@pytest.mark.parametrize("name", list(BAD))
def test_bad_images_give_a_message(name: str) -> None:
    data, expected = BAD[name]
    with pytest.raises(ImageError, match=expected) as info:
        load_image(data)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("name", list(AWKWARD))
def test_awkward_images_become_rgb(name: str) -> None:
    data, size = AWKWARD[name]
    image = load_image(data)
    assert image.mode == "RGB"
    assert image.size == size


def test_transparency_is_composited_over_white() -> None:
    image = load_image(AWKWARD["rgba png"][0])
    assert image.getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_keeps_its_brightness() -> None:
    image = load_image(AWKWARD["16-bit png"][0])
    assert image.getpixel((0, 0)) == (155, 155, 155)  # 40000 / 257


def test_paths_and_file_objects(tmp_path) -> None:
    data = encode(photo(), "PNG")
    path = tmp_path / "x.png"
    path.write_bytes(data)
    assert np.array_equal(np.asarray(load_image(path)), np.asarray(load_image(io.BytesIO(data))))
    with pytest.raises(ImageError, match="Cannot read"):
        load_image(tmp_path / "missing.png")


def test_pixel_cap_is_configurable() -> None:
    with pytest.raises(ImageError, match="pixels"):
        load_image(encode(Image.new("RGB", (100, 100)), "PNG"), max_pixels=5000)
