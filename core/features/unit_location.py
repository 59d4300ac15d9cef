"""Where a channel's maximum is on an image: found when the channel is shown, by running the image again.

The dataset pass (:mod:`core.features.dataset_examples`) keeps each image's maximum of every
channel, not its place. A channel's top images are run again, in one batch, up to the layer
only (the forward stops there), and the channel's first maximum in row-major order is taken,
as ``argmax`` defines it; the result is cached per (weights, layer, channel, images, size).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.config.device import inference
from core.datasets.tensors import Preprocess
from core.errors import ImageError
from core.features.conv_maps import record_conv_maps
from core.features.dataset_examples import BATCH, pass_view
from core.features.unit_maxima import UnitMaxima, weights_digest
from core.models.loading import LoadedModel
from core.util.bounded_cache import BoundedCache

_FOUND: BoundedCache = BoundedCache(max_entries=256, max_bytes=8 << 20, size=lambda places: 64 * len(places))


class _Reached(Exception):
    """Raised by the hook once the layer's map is read, to stop the forward pass there."""


def channel_argmax(module: torch.nn.Module, batch: torch.Tensor, layer: str, channel: int) -> np.ndarray:
    """The flat position ``row * W + col`` of ``channel``'s maximum in ``layer``'s map, per image of ``batch``.

    The map is the one the pass reduces (after the normalisation and activation that follow the
    convolution). Hooks go on ``module`` (a private view) and are removed however the pass ends.
    """
    found: list[np.ndarray] = []

    def store(maps: torch.Tensor) -> None:
        found.append(maps[:, channel].flatten(1).argmax(dim=1).cpu().numpy())
        raise _Reached

    try:
        with record_conv_maps(module, store=store, only={layer}), inference(batch.device):
            module(batch)
    except _Reached:
        pass
    if not found:
        raise ValueError(f"layer {layer!r} did not run on this input; choose another layer.")
    return found[0]


def decode_or_none(preprocess: Preprocess, path: Path) -> torch.Tensor | None:
    """The image as the pass decoded it, or None when it can no longer be read."""
    try:
        return preprocess.decode(path)
    except (ImageError, OSError):  # the file went away or changed since the pass
        return None


def locate(
    model: LoadedModel,
    maxima: UnitMaxima,
    layer: str,
    channel: int,
    images: Sequence[int],
    decoded: Sequence[torch.Tensor | None] | None = None,
) -> list[tuple[int, int] | None]:
    """``(row, col)`` of ``channel``'s maximum in ``layer`` on each of the pass's ``images`` (indices).

    None for an image that can no longer be decoded. ``decoded`` may hold the images already
    decoded (:func:`decode_or_none`, one per index), so that a caller that shows them reads each once.
    """
    maxima.top(layer, channel, 0)  # checks the layer and the channel
    key = (weights_digest(model), maxima.size, layer, channel, tuple(maxima.paths[i] for i in images))
    return _FOUND.get(key, lambda: _locate(model, maxima, layer, channel, images, decoded))


def _locate(
    model: LoadedModel,
    maxima: UnitMaxima,
    layer: str,
    channel: int,
    images: Sequence[int],
    given: Sequence[torch.Tensor | None] | None,
) -> list[tuple[int, int] | None]:
    preprocess = Preprocess.for_model(model.transforms, maxima.size)
    width = maxima.shapes[layer][1]
    places: list[tuple[int, int] | None] = []
    with pass_view(model) as view:
        for start in range(0, len(images), BATCH):
            chunk = images[start : start + BATCH]
            decoded = (
                list(given[start : start + BATCH])
                if given is not None
                else [decode_or_none(preprocess, Path(maxima.paths[i])) for i in chunk]
            )
            kept = [d for d in decoded if d is not None]
            if not kept:
                places += [None] * len(decoded)
                continue
            batch = preprocess.batch(torch.stack(kept)).to(model.device)
            flat = iter(channel_argmax(view, batch, layer, channel).tolist())
            places += [None if d is None else divmod(next(flat), width) for d in decoded]
    return places


def channel_csv(model: LoadedModel, maxima: UnitMaxima, layer: str, channel: int) -> str:
    """Every image's maximum for the channel and where it is, strongest first, as CSV text.

    Locating every image is a forward pass over the dataset up to the layer: made when asked for.
    """
    ranked = maxima.top(layer, channel, len(maxima.paths))
    places = locate(model, maxima, layer, channel, [i for i, _ in ranked])
    root = Path(os.path.commonpath(maxima.paths)) if len(maxima.paths) > 1 else Path(maxima.paths[0]).parent
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", "image", "max", "row", "col"])
    for rank, ((i, value), place) in enumerate(zip(ranked, places, strict=True), start=1):
        name = Path(maxima.paths[i]).relative_to(root).as_posix()  # as in the dataset, not where the server keeps it
        writer.writerow([rank, name, f"{value:.6g}", *(place or ("", ""))])
    return out.getvalue()
