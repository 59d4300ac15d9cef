"""Feature maps of every convolution in one forward pass, their statistics, and the kernels.

:func:`get_activations` runs the model once per (model, weights, image, input size) and keeps
the result in a small LRU, so stepping through layers and channels never re-runs it. Each
convolution's map is taken after the normalisation and activation that directly follow it
(``Conv2d -> BatchNorm2d -> ReLU``): what the next layer sees, as lectures draw it. Maps are
stored on the CPU as float16 (float32 where values would overflow), read-only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import functional as TF
from torchvision.transforms._presets import ImageClassification

from core.config import limits
from core.config.device import inference, synchronize
from core.features.conv_arithmetic import ReceptiveField, model_receptive_fields
from core.models.loading import LoadedModel
from core.util.bounded_cache import BoundedCache
from core.util.hooks import conv_layers
from core.util.shared_cache import SharedCache

INPUT_SIZES = (128, 160, 224, 288, 320)  # pixels a side offered for torchvision models
_FLOAT16_EXPONENT = 0x7C00  # all exponent bits set: inf or NaN
# Shape-preserving, per-position modules that usually follow a convolution.
FOLLOWERS = (
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.LayerNorm,
    nn.ReLU,
    nn.Hardtanh,  # ReLU6 is one
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.Tanh,
)


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


def _to_cpu(tensor: torch.Tensor) -> torch.Tensor:
    """A CPU copy in float16 (half the memory), or float32 when values do not fit in float16."""
    half = tensor.detach().to("cpu", torch.float16, copy=True)
    exponent = half.numpy().view(np.uint16) & _FLOAT16_EXPONENT
    if (exponent == _FLOAT16_EXPONENT).any():  # inf or NaN: too large for float16 (or not a number)
        return tensor.detach().to("cpu", torch.float32, copy=True)
    return half


@contextlib.contextmanager
def record_conv_maps(
    module: nn.Module, store: Callable[[torch.Tensor], object] | None = None
) -> Iterator[dict[str, tuple[object, tuple[str, ...]]]]:
    """Record each convolution's output after the :data:`FOLLOWERS` chained directly to it.

    Yields a dict, filled while forward passes run inside the block, from conv name to
    ``store(map)`` (default: a CPU copy, :func:`_to_cpu`) and the names of the modules applied
    after the convolution; ``store`` may reduce the map instead (per-channel maxima). A
    map is copied when the next module starts (or when the block ends), so in-place operations
    after it (``out += identity``) do not change it. Forward passes of other threads (another
    session using the same cached model) are ignored. Hooks are removed on exit, whatever
    happens; hold ``LoadedModel.lock`` when ``module`` is a shared cached model.
    """
    recorded: dict[str, tuple[object, tuple[str, ...]]] = {}
    store = store or _to_cpu
    owner = threading.get_ident()
    chains: dict[int, tuple[str, weakref.ref, tuple[str, ...]]] = {}  # id(tensor) -> (conv, tensor, after)
    pending: dict[str, tuple[torch.Tensor, tuple[str, ...]]] = {}  # latest map of each chain, not yet copied

    def extend(name: str, output: torch.Tensor, after: tuple[str, ...]) -> None:
        chains[id(output)] = (name, weakref.ref(output), after)
        pending[name] = (output, after)

    def flush(keep: torch.Tensor | None = None) -> None:
        for name, (tensor, after) in list(pending.items()):
            if tensor is not keep:
                recorded[name] = (store(tensor), after)
                del pending[name]

    def before(sub: nn.Module, inputs) -> None:
        if threading.get_ident() == owner:  # a follower about to extend a chain needs no copy of it
            source = inputs[0] if inputs and isinstance(sub, FOLLOWERS) else None
            flush(keep=source if isinstance(source, torch.Tensor) else None)

    def on_conv(name: str, _conv: nn.Module, _inputs, output) -> None:
        if isinstance(output, torch.Tensor) and threading.get_ident() == owner:
            extend(name, output, ())

    def on_follower(follower: nn.Module, inputs, output) -> None:
        source = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
        if source is None or threading.get_ident() != owner:
            return
        entry = chains.pop(id(source), None)
        if entry is None or entry[1]() is not source:
            return
        name, _, after = entry
        if isinstance(output, torch.Tensor) and output.shape == source.shape:
            extend(name, output, (*after, type(follower).__name__))

    handles = []
    try:
        for sub in module.modules():
            if not list(sub.children()):
                handles.append(sub.register_forward_pre_hook(before))
            if isinstance(sub, FOLLOWERS) and not list(sub.children()):
                handles.append(sub.register_forward_hook(on_follower))
        for name, conv in conv_layers(module):
            handles.append(conv.register_forward_hook(functools.partial(on_conv, name)))
        yield recorded
        flush()
    finally:
        for handle in handles:
            handle.remove()


def _preset(model: LoadedModel) -> ImageClassification | None:
    return model.transforms if isinstance(model.transforms, ImageClassification) else None


def input_sizes(model: LoadedModel) -> tuple[int, ...]:
    """Input sides the model can be shown at: its own first, then :data:`INPUT_SIZES`.

    Models with their own preprocessing (not a torchvision preset) have only their own size.
    """
    preset = _preset(model)
    own = preset.crop_size[0] if preset else model.card.crop_size
    return tuple(dict.fromkeys((own, *INPUT_SIZES))) if preset else (own,)


def model_input(model: LoadedModel, image: Image.Image, size: int | None = None) -> tuple[torch.Tensor, Image.Image]:
    """The ``(1, 3, H, W)`` input tensor for ``image`` and the RGB picture it shows.

    torchvision presets are resized and centre-cropped to ``size`` (default: the preset's crop)
    keeping their resize-to-crop ratio, interpolation and normalisation.

    Raises:
        ValueError: ``size`` is not offered for this model (see :func:`input_sizes`).
    """
    if size is not None and size not in input_sizes(model):
        raise ValueError(f"size {size} px is not offered for {model.card.label}; choose one of {input_sizes(model)}.")
    preset = _preset(model)
    if preset is None:
        batch = model.to_input(image)
        return batch, image.resize((batch.shape[-1], batch.shape[-2]), Image.BILINEAR)
    crop = size or preset.crop_size[0]
    resize = round(crop * preset.resize_size[0] / preset.crop_size[0])
    view = TF.center_crop(TF.resize(image, [resize], preset.interpolation, antialias=preset.antialias), [crop])
    exact = ImageClassification(
        crop_size=crop,
        resize_size=crop,
        mean=preset.mean,
        std=preset.std,
        interpolation=preset.interpolation,
        antialias=preset.antialias,
    )
    return exact(view).unsqueeze(0).to(model.device), view


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


def capture(model: LoadedModel, image: Image.Image, size: int | None = None) -> Activations:
    """Run ``model`` once on ``image`` and keep every convolution's maps (uncached).

    Holds ``model.lock`` while hooks are on the shared model; they are gone when it returns or raises.

    Raises:
        ValueError: the image is too small for the model at this size, or ``size`` is not offered.
    """
    batch, view = model_input(model, image, size)
    convs = conv_layers(model.module)
    if not convs:
        raise ValueError(f"{model.card.label} has no Conv2d layer to show.")
    try:
        fields = model_receptive_fields(model.key, batch.shape[-1])
    except (RuntimeError, NotImplementedError, ValueError):  # an op the meta device cannot trace: maps still work
        fields = {}
    with model.lock, record_conv_maps(model.module) as recorded, inference(model.device):
        start = time.perf_counter()
        try:
            model.module(batch)
        except RuntimeError as exc:
            raise ValueError(
                f"{model.card.label} cannot run on a {batch.shape[-1]} px input ({str(exc).splitlines()[0]}). "
                "Choose a larger input size."
            ) from None
        synchronize(model.device)
        elapsed = (time.perf_counter() - start) * 1000
    layers = tuple(
        _layer(name, conv, recorded[name][0][0], recorded[name][1], fields.get(name))
        for name, conv in convs
        if name in recorded
    )
    return Activations(model.display_name, model.trained, view, layers, elapsed)


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
