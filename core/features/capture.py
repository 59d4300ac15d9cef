"""Feature maps of every convolution in one forward pass, their statistics, and the kernels.

:func:`get_activations` runs the model once per (model, weights, image, input size) and keeps
the result in a small LRU, so stepping through layers and channels never re-runs it. Each
convolution's map is taken after the normalisation and activation that directly follow it
(``Conv2d -> BatchNorm2d -> ReLU``): what the next layer sees, as lectures draw it. Maps are
stored on the CPU as float16 (float32 where values would overflow), read-only.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.config import limits
from core.config.device import inference, synchronize
from core.features.conv_maps import record_conv_maps
from core.features.receptive_fields import ReceptiveField, model_receptive_fields
from core.io.preprocess import Preprocess
from core.models.loading import LoadedModel
from core.util.bounded_cache import BoundedCache
from core.util.hooks import conv_layers
from core.util.shared_cache import SharedCache

INPUT_SIZES = (128, 160, 224, 288, 320)  # pixels a side offered for torchvision models


@dataclass(frozen=True, eq=False)
class ConvMaps:
    """One convolution: its settings, its feature maps on the image and per-channel statistics.

    ``maps`` is ``(C, H, W)``, read-only; ``after`` names the modules applied between the
    convolution and ``maps``. The per-channel statistics are computed on first use.
    """

    name: str
    type: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    groups: int
    in_channels: int
    out_channels: int
    params: int
    receptive_field: ReceptiveField | None
    after: tuple[str, ...]
    maps: np.ndarray

    @functools.cached_property
    def _stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flat = self.maps.reshape(len(self.maps), -1).astype(np.float32)
        return tuple(_read_only(s) for s in (flat.mean(axis=1), flat.max(axis=1), (flat <= 0).mean(axis=1)))

    @property
    def mean(self) -> np.ndarray:
        """Mean activation of each channel."""
        return self._stats[0]

    @property
    def peak(self) -> np.ndarray:
        """Largest activation of each channel."""
        return self._stats[1]

    @property
    def zeros(self) -> np.ndarray:
        """Share of each channel's units at or below zero: the units a ReLU sets to zero."""
        return self._stats[2]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.maps.shape)

    @property
    def kind(self) -> str:
        """``depthwise`` (a filter per channel), ``grouped``, ``pointwise`` (1x1) or ``standard``."""
        if self.groups > 1:
            return "depthwise" if self.groups == self.in_channels else "grouped"
        return "pointwise" if self.kernel == (1, 1) else "standard"

    def top_channels(self, k: int) -> np.ndarray:
        """Indices of the ``k`` channels with the highest mean activation, strongest first."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}.")
        return np.argsort(-self.mean.astype(np.float64), kind="stable")[:k]


@dataclass(frozen=True, eq=False)
class Activations:
    """Every convolution's maps for one image, in forward order, and the picture the model saw."""

    model: str
    trained: bool
    image: Image.Image
    layers: tuple[ConvMaps, ...]
    forward_ms: float

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def nbytes(self) -> int:
        return sum(layer.maps.nbytes for layer in self.layers)

    def layer(self, name: str) -> ConvMaps:
        """The layer called ``name``; an unknown name is an error that says where to look."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"layer {name!r} is not a convolution of {self.model}; use one of Activations.names.")


@dataclass(frozen=True, eq=False)
class Kernels:
    """The weights of one convolution, ``(C_out, C_in / groups, kH, kW)``, and their L2 norms."""

    name: str
    weights: np.ndarray
    groups: int

    @property
    def norms(self) -> np.ndarray:
        return np.sqrt((self.weights.astype(np.float64) ** 2).sum(axis=(1, 2, 3)))

    def order(self, by_norm: bool) -> np.ndarray:
        """Filter indices: largest norm first when ``by_norm``, else as stored."""
        return np.argsort(-self.norms, kind="stable") if by_norm else np.arange(len(self.weights))


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def input_sizes(model: LoadedModel) -> tuple[int, ...]:
    """Input sides the model can be shown at: its own first, then :data:`INPUT_SIZES`.

    Models with their own preprocessing (not a torchvision preset) have only their own size.
    """
    prep = model.preprocess
    own = prep.size if prep else model.card.crop_size
    return tuple(dict.fromkeys((own, *INPUT_SIZES))) if prep else (own,)


def model_input(model: LoadedModel, image: Image.Image, size: int | None = None) -> tuple[torch.Tensor, Image.Image]:
    """The ``(1, 3, H, W)`` input tensor for ``image`` and the RGB picture it shows.

    torchvision presets are resized and centre-cropped to ``size`` (default: the preset's crop)
    keeping their resize-to-crop ratio, interpolation and normalisation (:mod:`core.io.preprocess`).

    Raises:
        ValueError: ``size`` is not offered for this model (see :func:`input_sizes`).
    """
    if size is not None and size not in input_sizes(model):
        raise ValueError(f"size {size} px is not offered for {model.card.label}; choose one of {input_sizes(model)}.")
    if model.preprocess is None:
        batch = model.to_input(image)
        return batch, image.resize((batch.shape[-1], batch.shape[-2]), Image.BILINEAR)
    prep = Preprocess.for_model(model.transforms, size)
    return prep.to_input(image).to(model.device), prep.view(image)


def _pair(value: tuple[int, ...] | int) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[-1])


def _padding(conv: nn.Conv2d) -> tuple[int, int]:
    """Padding on the top and left, also for ``padding="same"`` and ``"valid"``."""
    if conv.padding == "valid":
        return (0, 0)
    if conv.padding == "same":
        return tuple(d * (k - 1) // 2 for d, k in zip(conv.dilation, conv.kernel_size, strict=True))
    return _pair(conv.padding)


def _layer(
    name: str, conv: nn.Conv2d, maps: torch.Tensor, after: tuple[str, ...], field: ReceptiveField | None
) -> ConvMaps:
    return ConvMaps(
        name=name,
        type=type(conv).__name__,
        kernel=_pair(conv.kernel_size),
        stride=_pair(conv.stride),
        padding=_padding(conv),
        dilation=_pair(conv.dilation),
        groups=conv.groups,
        in_channels=conv.in_channels,
        out_channels=conv.out_channels,
        params=sum(p.numel() for p in conv.parameters(recurse=False)),
        receptive_field=field,
        after=after,
        maps=_read_only(maps.numpy()),
    )


@dataclass(frozen=True, eq=False)
class CaptureItem:
    """One capture request, prepared: the model, its ``(1, 3, H, W)`` input and the picture it shows."""

    model: LoadedModel
    batch: torch.Tensor
    view: Image.Image


def capture_item(model: LoadedModel, image: Image.Image, size: int | None) -> CaptureItem:
    """Check and prepare a capture request (a bad ``size`` fails here, alone).

    Raises:
        ValueError: the image is too small for the model at this size, ``size`` is not offered, or no Conv2d.
    """
    batch, view = model_input(model, image, size)
    if not conv_layers(model.module):
        raise ValueError(f"{model.card.label} has no Conv2d layer to show.")
    return CaptureItem(model, batch, view)


def capture_batch(items: Sequence[CaptureItem]) -> list[Activations]:
    """:func:`capture` of every item (one model, one input shape) in ONE forward; rows are independent in eval mode.

    Holds ``model.lock`` while hooks are on the shared model; they are gone when it returns or raises.
    """
    model, stacked = items[0].model, torch.cat([item.batch for item in items])
    try:
        fields = model_receptive_fields(model.key, stacked.shape[-1])
    except (RuntimeError, NotImplementedError, ValueError):  # an op the meta device cannot trace: maps still work
        fields = {}
    with model.lock, record_conv_maps(model.module) as recorded, inference(model.device):
        start = time.perf_counter()
        try:
            model.module(stacked)
        except RuntimeError as exc:
            raise ValueError(
                f"{model.card.label} cannot run on a {stacked.shape[-1]} px input ({str(exc).splitlines()[0]}). "
                "Choose a larger input size."
            ) from None
        synchronize(model.device)
        elapsed = (time.perf_counter() - start) * 1000
    convs = [(name, conv, recorded[name]) for name, conv in conv_layers(model.module) if name in recorded]
    return [
        Activations(
            model.display_name,
            model.trained,
            item.view,
            tuple(_layer(name, conv, maps[i], after, fields.get(name)) for name, conv, (maps, after) in convs),
            elapsed,
        )
        for i, item in enumerate(items)
    ]


def capture(model: LoadedModel, image: Image.Image, size: int | None = None) -> Activations:
    """Run ``model`` once on ``image`` and keep every convolution's maps (uncached).

    Raises:
        ValueError: the image is too small for the model at this size, or ``size`` is not offered.
    """
    return capture_batch([capture_item(model, image, size)])[0]


def image_digest(image: Image.Image) -> str:
    """A content hash of a PIL image (mode, size and pixels)."""
    digest = hashlib.blake2b(f"{image.mode}{image.size}".encode(), digest_size=16)
    digest.update(image.tobytes())
    return digest.hexdigest()


CaptureCache = BoundedCache  # captures are bounded by count and by the bytes of their maps

# Shared by every session, one capture per key even when thirty students ask at once (core.util.shared_cache).
ACTIVATIONS = SharedCache(
    "feature maps", limits.ACTIVATION_CACHE_ENTRIES, limits.ACTIVATION_CACHE_BYTES, sizeof=lambda acts: acts.nbytes
)


def get_activations(model: LoadedModel, image: Image.Image, size: int | None = None) -> Activations:
    """:func:`capture`, cached per (model, weights, image, size) in a bounded LRU shared by all sessions.

    The result is shared: its arrays are read-only.
    """
    key = (model.key, model.trained, model.source, id(model.module), str(model.device), image_digest(image), size)
    return ACTIVATIONS.get(key, lambda: capture(model, image, size))


def conv_kernels(model: LoadedModel, name: str) -> Kernels:
    """A copy of the weights of the convolution ``name`` of ``model``.

    Raises:
        ValueError: ``name`` is not a convolution of the model.
    """
    convs = dict(conv_layers(model.module))
    if name not in convs:
        raise ValueError(f"layer {name!r} is not a Conv2d of {model.card.label}.")
    conv = convs[name]
    weights = conv.weight.detach().to("cpu", torch.float32, copy=True).numpy()
    return Kernels(name, _read_only(weights), conv.groups)
