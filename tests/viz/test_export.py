"""Slide-ready exports: size, text burnt in (checked by pixels), legend colours, the untrained stamp, CSV."""

import numpy as np
import pytest
from PIL import Image

from core.viz import MIN_WIDTH, Legend, apply_colormap, slide, slide_png, stamp_untrained, untrained_csv

RED = np.array([190, 20, 20])


def _red_rows(image: Image.Image) -> np.ndarray:
    pixels = np.asarray(image.convert("RGB")).astype(int)
    return np.where((np.abs(pixels - RED).sum(axis=2) < 30).any(axis=1))[0]


def test_a_small_picture_becomes_a_slide_at_least_800_wide_with_its_picture_inside() -> None:
    picture = Image.fromarray(np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3))
    card = slide(picture, "Grad-CAM of tabby cat", ("model: ResNet-18", "image: cat", "layer: layer4"))
    assert card.width == MIN_WIDTH
    enlarged = np.asarray(picture.resize((MIN_WIDTH, MIN_WIDTH), Image.NEAREST))
    bottom = np.asarray(card)[-MIN_WIDTH - 10 : -10]  # the picture sits under the text, 10 px from the bottom
    assert np.array_equal(bottom, enlarged)
    header = np.asarray(card)[: card.height - MIN_WIDTH - 10]
    assert (header < 128).any(), "no dark text above the picture"
    assert len(_red_rows(card)) == 0, "a trained model's slide says nothing about random weights"


def test_untrained_is_burnt_in_red_and_a_wide_picture_keeps_its_width() -> None:
    wide = Image.new("RGB", (1200, 300), (255, 255, 255))
    card = slide(wide, "Feature maps", untrained=True)
    assert card.width == 1200
    rows = _red_rows(card)
    assert len(rows) > 10 and rows.max() < card.height - 300, "red text in the header, not in the picture"


def test_the_legend_shows_the_colormap_from_low_to_high() -> None:
    card = np.asarray(slide(Image.new("RGB", (800, 100)), "t", legend=Legend("viridis", "weak", "strong")))
    bar = card[-10 - 60 + 12]  # a row through the colour bar (60 px high, 10 px margin under it)
    lut = apply_colormap(np.array([0.0, 1.0]), "viridis")
    assert np.abs(bar[21].astype(int) - lut[0]).sum() < 12 and np.abs(bar[-22].astype(int) - lut[1]).sum() < 12


def test_slide_needs_a_title_and_encodes_as_png() -> None:
    with pytest.raises(ValueError, match="title"):
        slide(Image.new("RGB", (10, 10)), "  ")
    assert slide_png(Image.new("RGB", (10, 10)), "x").startswith(b"\x89PNG")


def test_stamp_untrained_marks_the_top_band_only() -> None:
    image = Image.new("RGB", (440, 440), (0, 0, 255))
    stamped = stamp_untrained(image)
    rows = _red_rows(stamped)
    assert rows.min() == 0 and rows.max() < 440 // 22 * 2
    assert np.array_equal(np.asarray(stamped)[100:], np.asarray(image)[100:])
    assert np.asarray(image)[0, 0].tolist() == [0, 0, 255], "the original is not changed"


def test_untrained_csv_gets_a_comment_line() -> None:
    assert untrained_csv("a,b\n1,2\n", untrained=False) == "a,b\n1,2\n"
    marked = untrained_csv("a,b\n1,2\n", untrained=True).splitlines()
    assert marked[0].startswith("# UNTRAINED") and marked[1:] == ["a,b", "1,2"]
