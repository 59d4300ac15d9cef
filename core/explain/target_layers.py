"""Which layers Grad-CAM offers on a model: the default (last conv block), every conv, the depth view.

Traced on weightless ``meta`` copies, so nothing runs on the real model.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.models.loading import LoadedModel
from core.models.registry import meta_model, model_card
from core.util.hooks import conv_layers, meta_trace

DEPTH_PANELS = 6  # at most this many layers in the side-by-side depth view


def _trace(module: nn.Module, size: int, lock: threading.RLock | None) -> list[tuple[str, torch.Tensor]]:
    """``(name, output)`` of every submodule as it finishes, on a weightless ``meta`` copy of ``module``."""
    with lock or contextlib.nullcontext():
        memo = {
            id(p): nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=False) for p in module.parameters()
        }
        memo.update({id(b): torch.empty_like(b, device="meta") for b in module.buffers()})
        skeleton = copy.deepcopy(module, memo)
    return [(name, output) for name, _sub, output in meta_trace(skeleton, size)]


def _pick_default(records: list[tuple[str, torch.Tensor]], conv_names: list[str]) -> str:
    holders = {name.rsplit(".", depth)[0] for name in conv_names for depth in range(name.count(".") + 1)}
    maps = [(name, out) for name, out in records if out.ndim == 4 and out.shape[-2] * out.shape[-1] > 1]
    if blocks := [(name, out) for name, out in maps if name in holders]:
        final = blocks[-1][1]  # the last feature map a convolutional block produces...
        return next(name for name, out in blocks if out is final)  # ...named by the innermost such block
    if fallback := maps or [(name, out) for name, out in records if out.ndim == 4]:
        return fallback[-1][0]
    raise ValueError("the model has no layer with a 4-D (batch, channels, height, width) output for Grad-CAM.")


def default_layer(module: nn.Module, *, size: int = 224, lock: threading.RLock | None = None) -> str:
    """The layer Grad-CAM uses by default: the last convolutional block.

    That is the innermost module containing a ``Conv2d`` that produces the network's last
    feature map larger than 1x1 (``layer4.1`` for ResNet-18, ``features`` for VGG). A model
    without convolutions falls back to the last module with a 4-D output. Traced on a
    weightless ``meta`` copy, so nothing runs on the real model.

    Args:
        module: the classifier.
        size: side of the square input to trace with.
        lock: held while ``module`` is copied (``LoadedModel.lock`` for a shared model).
    """
    return _pick_default(_trace(module, size, lock), [name for name, _ in conv_layers(module)])


@dataclass(frozen=True)
class LayerChoices:
    """The layers offered for Grad-CAM on one zoo model, with their output shapes."""

    default: str
    convs: tuple[str, ...]  # every Conv2d, in forward order
    shapes: dict[str, tuple[int, ...]]  # (channels, height, width) of the default and of each conv
    depth: tuple[str, ...]  # shallow to deep, one layer per map resolution, ending with the default


def _depth_layers(convs: list[str], shapes: dict[str, tuple[int, ...]], default: str) -> tuple[str, ...]:
    last_at: dict[tuple[int, ...], str] = {}
    for name in convs:
        if shapes[name][1] * shapes[name][2] > 1:
            last_at[shapes[name][1:]] = name
    last_at[shapes[default][1:]] = default
    layers = list(last_at.values())
    keep = np.linspace(0, len(layers) - 1, min(len(layers), DEPTH_PANELS)).round().astype(int)
    return tuple(layers[i] for i in sorted(set(keep)))


@functools.lru_cache(maxsize=32)
def layer_choices(key: str) -> LayerChoices:
    """Default layer, conv layers and depth-view layers of zoo model ``key`` (traced once, without weights)."""
    skeleton = meta_model(key)
    records = _trace(skeleton, model_card(key).crop_size, None)
    conv_names = [name for name, _ in conv_layers(skeleton)]
    default = _pick_default(records, conv_names)
    first = dict(reversed(records))  # each layer's first output
    convs = list(dict.fromkeys(name for name, _ in records if name in set(conv_names)))
    shapes = {name: tuple(first[name].shape[1:]) for name in [default, *convs]}
    return LayerChoices(default, tuple(convs), shapes, _depth_layers(convs, shapes, default))


def model_view(model: LoadedModel, image: Image.Image) -> Image.Image:
    """``image`` resized and cropped as ``model``'s preprocessing does, for drawing maps over it."""
    if prep := model.preprocess:
        return prep.view(image)
    height, width = model.to_input(image).shape[-2:]
    return image if image.size == (width, height) else image.resize((width, height), Image.BILINEAR)


def layer_words(model_key: str, layer: str) -> str:
    """The layer in words for titles: "the last conv block" for the default, else "layer <name>"."""
    return "the last conv block" if layer == layer_choices(model_key).default else f"layer {layer}"
