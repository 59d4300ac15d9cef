"""Slide-ready pictures: title, model, image, layer or class and legend burnt into the PNG.

Every figure a page offers for download goes through :func:`slide`, so a picture pasted into a
slide still says what it shows, and one made with random weights says **untrained** in red.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.viz.render import apply_colormap, to_png

MIN_WIDTH = 800  # pixels: readable when pasted into a slide
UNTRAINED = "UNTRAINED: random weights"
_RED, _INK, _GREY, _PAPER = (190, 20, 20), (20, 20, 20), (70, 70, 70), (255, 255, 255)


@dataclass(frozen=True)
class Legend:
    """A colour bar: the colormap and what its two ends mean."""

    cmap: str
    low: str = "low"
    high: str = "high"


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font, width: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` pixels (long words stay whole)."""
    lines, line = [], ""
    for word in text.split():
        trial = f"{line} {word}".strip()
        if line and draw.textlength(trial, font=font) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line] if line else lines


def stamp_untrained(image: Image.Image) -> Image.Image:
    """A copy of ``image`` with a red "UNTRAINED" band across its top (for pictures shown on a page)."""
    picture = image.convert("RGB").copy()
    size = max(12, picture.width // 22)
    draw = ImageDraw.Draw(picture)
    font = _font(size)
    band = size + size // 2
    draw.rectangle((0, 0, picture.width, band), fill=_RED)
    draw.text((size // 3, size // 4), UNTRAINED, font=font, fill=_PAPER)
    return picture


def legend_bar(legend: Legend, width: int = 900, font=None) -> Image.Image:
    """The colour bar of ``legend``, ``width`` pixels wide, with what its two ends mean written under it."""
    font = font or _font(24)
    ramp = apply_colormap(np.tile(np.linspace(0.0, 1.0, width - 40, dtype=np.float32), (22, 1)), legend.cmap)
    bar = Image.new("RGB", (width, 60), _PAPER)
    bar.paste(Image.fromarray(ramp), (20, 4))
    draw = ImageDraw.Draw(bar)
    draw.text((20, 30), legend.low, font=font, fill=_INK)
    draw.text((width - 20 - draw.textlength(legend.high, font=font), 30), legend.high, font=font, fill=_INK)
    return bar


def slide(
    image: Image.Image,
    title: str,
    facts: tuple[str, ...] = (),
    legend: Legend | None = None,
    untrained: bool = False,
) -> Image.Image:
    """``image`` on a white card at least :data:`MIN_WIDTH` wide, with ``title``, ``facts`` and ``legend``.

    Args:
        image: the picture (enlarged with nearest neighbours when narrower than the card).
        title: one line, e.g. "Grad-CAM of tabby cat".
        facts: short lines such as "model: ResNet-18 · ImageNet", "image: cat", "layer: layer4".
        legend: a colour bar under the picture, or None.
        untrained: burn a red "UNTRAINED: random weights" line into the card.
    """
    if not title.strip():
        raise ValueError("title must say what the picture shows, got an empty string.")
    width = max(MIN_WIDTH, image.width)
    picture = image.convert("RGB")
    if picture.width < width:
        factor = width / picture.width
        picture = picture.resize((width, round(picture.height * factor)), Image.NEAREST)
    title_font, fact_font = _font(34), _font(24)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    head = [(line, title_font, _INK) for line in _wrap(probe, title, title_font, width - 40)]
    if untrained:
        head.append((UNTRAINED, title_font, _RED))
    head += [(line, fact_font, _GREY) for fact in facts for line in _wrap(probe, fact, fact_font, width - 40)]
    heights = [44 if font is title_font else 32 for _, font, _ in head]
    bar = legend_bar(legend, width, fact_font) if legend else None
    top = 20 + sum(heights) + 10
    card = Image.new("RGB", (width, top + picture.height + (bar.height if bar else 0) + 10), _PAPER)
    draw = ImageDraw.Draw(card)
    y = 20
    for (line, font, colour), height in zip(head, heights, strict=True):
        draw.text((20, y), line, font=font, fill=colour)
        y += height
    card.paste(picture, (0, top))
    if bar:
        card.paste(bar, (0, top + picture.height))
    return card


def slide_png(image: Image.Image, title: str, **kwargs) -> bytes:
    """:func:`slide` encoded as PNG bytes, for download buttons."""
    return to_png(slide(image, title, **kwargs))


def untrained_csv(csv_text: str, untrained: bool) -> str:
    """``csv_text`` with a first comment line saying the numbers come from random weights, when they do."""
    return f"# {UNTRAINED}: these numbers show the architecture, nothing learned\n{csv_text}" if untrained else csv_text
