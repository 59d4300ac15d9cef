import io

import numpy as np
import pytest
from PIL import Image

from core.viz.render import apply_colormap, normalize, overlay, tile, to_png, upscale_nearest


def test_normalize_per_axis_and_flat() -> None:
    values = np.array([[0.0, 2.0], [5.0, 5.0]])
    assert np.allclose(normalize(values, axis=(1,)), [[0, 1], [0, 0]])
    assert normalize(np.full((3, 3), 7.0)).max() == 0


def test_colormap_ends_and_unknown_name() -> None:
    rgb = apply_colormap(np.array([0.0, 1.0]), "gray")
    assert rgb.tolist() == [[0, 0, 0], [255, 255, 255]]
    with pytest.raises(ValueError, match="colormap 'nope'"):
        apply_colormap(np.zeros(2), "nope")


def test_tile_layout_by_hand() -> None:
    maps = np.arange(5 * 2 * 2, dtype=np.float32).reshape(5, 2, 2)
    grid = tile(maps, columns=3, pad=1, pad_value=-1)
    assert grid.shape == (2 * 3 - 1, 3 * 3 - 1)
    assert grid[0:2, 3:5].tolist() == maps[1].tolist()
    assert grid[3:5, 6:8].tolist() == [[-1, -1], [-1, -1]]  # the empty sixth cell


def test_overlay_alpha_extremes() -> None:
    image = Image.new("RGB", (8, 6), (10, 20, 30))
    heat = np.ones((2, 2))
    assert np.asarray(overlay(image, heat, alpha=0.0)).tolist() == np.asarray(image).tolist()
    assert overlay(image, heat, alpha=1.0).getpixel((0, 0)) == tuple(apply_colormap(np.array(1.0), "jet"))
    with pytest.raises(ValueError, match="alpha"):
        overlay(image, heat, alpha=2)


def test_png_round_trip_and_upscale() -> None:
    array = upscale_nearest(np.array([[0, 255]], dtype=np.uint8), 3)
    assert array.shape == (3, 6)
    assert np.asarray(Image.open(io.BytesIO(to_png(array)))).tolist() == array.tolist()
