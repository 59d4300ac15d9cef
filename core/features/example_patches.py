"""A channel's dataset examples as pictures: its top images cropped to the receptive field of the maximum."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core.datasets.tensors import Preprocess
from core.features.receptive_fields import ReceptiveField, model_receptive_fields
from core.features.unit_location import decode_or_none, locate
from core.features.unit_maxima import UnitMaxima
from core.models.loading import LoadedModel


@dataclass(frozen=True)
class Example:
    """One of a channel's top images: the patch its maximum sees and where it is."""

    image: str
    value: float
    unit: tuple[int, int]
    window: tuple[int, int, int, int]  # top, left, bottom, right (inclusive) in input pixels, clipped to it
    patch: Image.Image


def _clipped(window: tuple[int, int, int, int], size: int) -> tuple[int, int, int, int]:
    """The part of ``window`` inside a ``size`` x ``size`` input (fields can reach into the padding)."""
    top, left, bottom, right = window
    return max(top, 0), max(left, 0), min(bottom, size - 1), min(right, size - 1)


def channel_examples(
    model: LoadedModel, maxima: UnitMaxima, layer: str, channel: int, k: int = 9
) -> tuple[Example, ...]:
    """The ``k`` strongest images of ``channel``, each cropped to the receptive field of its maximum.

    Images that can no longer be decoded are left out.
    """
    try:
        field: ReceptiveField | None = model_receptive_fields(model.key, maxima.size).get(layer)
    except (RuntimeError, NotImplementedError, ValueError):
        field = None
    preprocess = Preprocess.for_model(model.transforms, maxima.size)
    whole = (0, 0, maxima.size - 1, maxima.size - 1)
    examples = []
    best = maxima.top(layer, channel, k)
    indices = [i for i, _ in best]
    decoded = [decode_or_none(preprocess, Path(maxima.paths[i])) for i in indices]  # read once, for both
    places = locate(model, maxima, layer, channel, indices, decoded)
    for (index, value), place, pixels in zip(best, places, decoded, strict=True):
        path = Path(maxima.paths[index])
        if place is None or pixels is None:  # the file went away since the pass
            continue
        row, col = place
        picture = preprocess.picture(pixels)
        window = whole if field is None or field.is_global else _clipped(field.window(row, col), maxima.size)
        top, left, bottom, right = window
        patch = picture.crop((left, top, right + 1, bottom + 1))
        examples.append(Example(path.name, value, (row, col), window, patch))
    return tuple(examples)


def examples_grid(examples: tuple[Example, ...], side: int = 128, columns: int = 3) -> Image.Image:
    """The patches as one picture (for the PNG download), ``side`` px each, 4 px apart."""
    rows = max(1, -(-len(examples) // columns))
    grid = Image.new("RGB", (columns * (side + 4) - 4, rows * (side + 4) - 4), (255, 255, 255))
    for i, example in enumerate(examples):
        r, c = divmod(i, columns)
        grid.paste(example.patch.resize((side, side), Image.NEAREST), (c * (side + 4), r * (side + 4)))
    return grid
