"""Receptive fields of any model, computed by following the data through it on the ``meta`` device.

Every windowed op (convolution, pooling) that runs is seen by a dispatch mode, so branches,
residual additions and concatenations are followed; a global pooling makes the rest global.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from core.features.conv_arithmetic import check_positive
from core.models.registry import meta_model, model_card
from core.util.hooks import capture_outputs, conv_layers


@dataclass(frozen=True)
class ReceptiveField:
    """The window of input pixels one unit of a layer can see.

    ``size`` and ``jump`` are (height, width) in input pixels: the window's side and the distance
    between the windows of neighbouring units. ``start`` is the centre of unit (0, 0)'s window.
    ``is_global`` marks layers after a global pooling: they see the whole image.
    """

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[float, float]
    is_global: bool = False

    def window(self, row: int, col: int) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)`` in input pixels, inclusive, before clipping to the image."""
        (h, w), (jh, jw), (sh, sw) = self.size, self.jump, self.start
        top, left = sh + row * jh - (h - 1) / 2, sw + col * jw - (w - 1) / 2
        return round(top), round(left), round(top + h - 1), round(left + w - 1)

    @property
    def label(self) -> str:
        return "whole image" if self.is_global else f"{self.size[0]}×{self.size[1]} px"


_Axis = tuple[float, float, float]  # (size, jump, start) along one spatial axis
_GLOBAL = "global"
aten = torch.ops.aten
_WINDOWED = {aten.convolution.default, aten.max_pool2d_with_indices.default, aten.avg_pool2d.default}
_POOL_TO_ONE = {aten.mean.dim, aten._adaptive_avg_pool2d.default, aten.adaptive_max_pool2d.default}


def _pair(value: Iterable[int] | int, default: tuple[int, int]) -> tuple[int, int]:
    values = tuple(value) if isinstance(value, Iterable) else (value,)
    return default if not values else (values[0], values[-1])


def _union(fields: list) -> tuple[_Axis, _Axis] | str | None:
    """Where several tensors meet (add, cat, multiply), a unit sees what any of them sees.

    Globally pooled tensors broadcast over the map (squeeze-and-excitation gates) scale channels
    without moving the window, so they count only when nothing local is there.
    """
    local = [f for f in fields if f is not None and f != _GLOBAL]
    if not local:
        return _GLOBAL if _GLOBAL in fields else None
    axes = []
    for axis in range(2):
        jump = max(f[axis][1] for f in local)
        low = min(f[axis][2] - (f[axis][0] - 1) / 2 for f in local)
        high = max(f[axis][2] + (f[axis][0] - 1) / 2 for f in local)
        axes.append((high - low + 1, jump, (low + high) / 2))
    return tuple(axes)


def _arguments(func, args: tuple, kwargs: dict) -> dict[str, object]:
    """An aten call's arguments by name, defaults filled in."""
    schema = func._schema.arguments
    values = {a.name: a.default_value for a in schema if a.has_default_value()}
    values.update(zip((a.name for a in schema), args, strict=False))
    values.update(kwargs)
    return values


def _windowed(func, args: tuple, kwargs: dict, field: tuple[_Axis, _Axis]) -> tuple[_Axis, _Axis]:
    """A sliding window (convolution or pooling) grows the field by ``(F_eff - 1) * jump``."""
    values = _arguments(func, args, kwargs)
    if func is aten.convolution.default:
        if values["transposed"]:
            raise ValueError("receptive fields of transposed convolutions are not supported.")
        kernel = tuple(values["weight"].shape[-2:])
    else:
        kernel = _pair(values["kernel_size"], (1, 1))
    stride = _pair(values["stride"], kernel)
    padding = _pair(values["padding"], (0, 0))
    dilation = _pair(values.get("dilation", 1), (1, 1))
    axes = []
    for axis in range(2):
        size, jump, start = field[axis]
        span = dilation[axis] * (kernel[axis] - 1)
        axes.append((size + span * jump, jump * stride[axis], start + (span / 2 - padding[axis]) * jump))
    return tuple(axes)


class _FieldTracker(TorchDispatchMode):
    """Follows every tensor through the network and records the receptive field it carries."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.fields: dict[int, tuple[torch.Tensor, object]] = {id(image): (image, ((1, 1, 0), (1, 1, 0)))}

    def field(self, value: object) -> object:
        entry = self.fields.get(id(value)) if isinstance(value, torch.Tensor) else None
        return None if entry is None else entry[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        flat = [a for arg in args for a in (arg if isinstance(arg, (list, tuple)) else [arg])]
        fields = [self.field(a) for a in flat if isinstance(a, torch.Tensor)]
        source = self.field(args[0]) if args else None
        if func in _WINDOWED and source not in (None, _GLOBAL):
            field = _windowed(func, args, kwargs or {}, source)
        elif func is aten.constant_pad_nd.default and source not in (None, _GLOBAL) and len(args[1]) >= 4:
            (h, jh, sh), (w, jw, sw) = source  # explicit padding (TensorFlow "same") shifts the window start
            field = ((h, jh, sh - args[1][2] * jh), (w, jw, sw - args[1][0] * jw))
        elif func in _POOL_TO_ONE and isinstance(args[0], torch.Tensor) and args[0].dim() == 4:
            identity = func is not aten.mean.dim and tuple(out.shape[-2:]) == tuple(args[0].shape[-2:])
            field = source if identity else _GLOBAL
        else:
            field = _union(fields)
        if field is not None:
            for tensor in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(tensor, torch.Tensor):
                    self.fields[id(tensor)] = (tensor, field)
        return out


def receptive_fields(module: nn.Module, size: int) -> dict[str, ReceptiveField]:
    """The receptive field of every ``nn.Conv2d`` of ``module`` on a ``size`` x ``size`` input.

    The data flow is followed op by op (convolutions, poolings, additions, concatenations), so
    branches such as residual shortcuts count exactly. Run it on a model built on the ``meta``
    device (:func:`core.models.registry.meta_model`): nothing is computed, only shapes.
    """
    check_positive(size=size)
    device = next(module.parameters()).device
    image = torch.empty(1, 3, size, size, device=device)
    names = [name for name, _ in conv_layers(module)]
    tracker = _FieldTracker(image)
    with capture_outputs(module, names) as outputs, torch.no_grad(), tracker:
        module(image)
    fields = {}
    for name in names:
        field = tracker.field(outputs.get(name))
        if field == _GLOBAL:
            fields[name] = ReceptiveField((size, size), (size, size), ((size - 1) / 2, (size - 1) / 2), True)
        elif field is not None:
            (h, jh, sh), (w, jw, sw) = field
            fields[name] = ReceptiveField((round(h), round(w)), (round(jh), round(jw)), (sh, sw))
    return fields


@functools.lru_cache(maxsize=32)
def model_receptive_fields(key: str, size: int | None = None) -> dict[str, ReceptiveField]:
    """:func:`receptive_fields` of a zoo model (cached; ``size`` defaults to its crop size)."""
    return receptive_fields(meta_model(key), size or model_card(key).crop_size)
