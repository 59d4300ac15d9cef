"""Convolution arithmetic: output sizes, parameter counts and receptive fields, checked against torch.

The formulas of a first CNN lecture, ``(W - F + 2P) / S + 1`` and ``(F*F*C_in + 1) * C_out``,
come with an explanation when the settings do not work, a worked example on a small grid,
and the same numbers from a real :class:`torch.nn.Conv2d`. Receptive fields are computed for
any model by following the data through it on the ``meta`` device, branches included.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from core.models.registry import meta_model, model_card
from core.util.hooks import capture_outputs, conv_layers

POOLS = {"max": nn.MaxPool2d, "average": nn.AvgPool2d}


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}.")


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Side of a convolution's (or pooling's) output: ``floor((W - F_eff + 2P) / S) + 1``.

    ``F_eff = dilation * (F - 1) + 1`` is the span of a dilated kernel. Like PyTorch, a stride
    that does not divide ``W - F + 2P`` rounds down.

    Raises:
        ValueError: a non-positive size, kernel, stride or dilation, negative padding, or a
            kernel larger than the padded input.
    """
    _check_positive(size=size, kernel=kernel, stride=stride, dilation=dilation)
    if padding < 0:
        raise ValueError(f"padding must be 0 or more, got {padding}.")
    span = dilation * (kernel - 1) + 1
    if span > size + 2 * padding:
        raise ValueError(
            f"kernel {kernel} (spanning {span} px) does not fit in the input of {size} px padded to "
            f"{size + 2 * padding} px: W + 2P must be at least F. Use a smaller kernel, more padding or a larger input."
        )
    return (size - span + 2 * padding) // stride + 1


def conv_params(kernel: int, in_channels: int, out_channels: int, *, bias: bool = True, groups: int = 1) -> int:
    """Weights and biases of a square convolution: ``(F*F*C_in/groups + bias) * C_out``."""
    _check_positive(kernel=kernel, in_channels=in_channels, out_channels=out_channels, groups=groups)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}.")
    return (kernel * kernel * in_channels // groups + int(bias)) * out_channels


@dataclass(frozen=True)
class ConvSettings:
    """One convolution (and an optional pooling after it) on a square input."""

    size: int
    in_channels: int
    kernel: int
    stride: int
    padding: int
    filters: int
    pool: str | None = None  # "max" or "average"
    pool_kernel: int = 2
    pool_stride: int = 2


@dataclass(frozen=True)
class Arithmetic:
    """The numbers of :class:`ConvSettings`, by formula and as measured on real torch layers.

    ``output`` and ``pooled`` are None when the settings do not work; ``problems`` says why.
    The ``*_latex`` strings are the formulas with the numbers filled in.
    """

    settings: ConvSettings
    output: int | None
    pooled: int | None
    params: int
    output_latex: str
    params_latex: str
    problems: tuple[str, ...]
    notes: tuple[str, ...]
    torch_layers: str
    torch_shape: tuple[int, ...] | None
    torch_params: int
    torch_error: str | None

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The final ``(C, H, W)`` by formula (after pooling when there is one)."""
        side = self.pooled if self.settings.pool else self.output
        return None if side is None else (self.settings.filters, side, side)

    @property
    def agrees(self) -> bool:
        """Whether the formulas and the real layers give the same shape and parameter count."""
        measured = None if self.torch_shape is None else self.torch_shape[1:]
        return measured == self.shape and self.torch_params == self.params


def _torch_check(s: ConvSettings) -> tuple[str, tuple[int, ...] | None, int, str | None]:
    """Build the real layers on the meta device and run them on a meta input."""
    conv = nn.Conv2d(s.in_channels, s.filters, s.kernel, s.stride, s.padding, device="meta")
    layers: list[nn.Module] = [conv]
    if s.pool:
        layers.append(POOLS[s.pool](s.pool_kernel, s.pool_stride))
    described = " → ".join(repr(layer) for layer in layers)
    params = sum(p.numel() for p in conv.parameters())
    try:
        with torch.no_grad():
            out = nn.Sequential(*layers)(torch.empty(1, s.in_channels, s.size, s.size, device="meta"))
    except RuntimeError as exc:
        return described, None, params, str(exc).splitlines()[0]
    return described, tuple(out.shape), params, None


def solve(s: ConvSettings) -> Arithmetic:
    """Compute the output size and parameters of ``s``; invalid settings are explained, not raised.

    Raises:
        ValueError: a non-positive channel or filter count, or an unknown pooling.
    """
    _check_positive(in_channels=s.in_channels, filters=s.filters)
    if s.pool not in (None, *POOLS):
        raise ValueError(f"pool must be None or one of {', '.join(POOLS)}, got {s.pool!r}.")
    w, f, st, p = s.size, s.kernel, s.stride, s.padding
    problems: list[str] = []
    notes: list[str] = []
    output = pooled = None
    try:
        output = output_size(w, f, st, p)
    except ValueError as exc:
        problems.append(str(exc)[0].upper() + str(exc)[1:])
    span = w - f + 2 * p
    if output is not None:
        if span % st:
            notes.append(
                f"(W − F + 2P) / S = {span} / {st} is not a whole number: the window cannot reach the last "
                f"{span % st} px of the padded input. PyTorch rounds down and ignores them; many courses call "
                "such settings invalid. Change the padding or the stride so that S divides W − F + 2P."
            )
        if output == w and st == 1:
            notes.append(f"Padding {p} with a {f}x{f} kernel and stride 1 keeps the size: 'same' padding.")
        if s.pool:
            try:
                pooled = output_size(output, s.pool_kernel, s.pool_stride)
            except ValueError:
                problems.append(
                    f"The {s.pool_kernel}x{s.pool_kernel} pooling window does not fit in the {output}x{output} "
                    "output of the convolution. Use a larger input, a smaller kernel or a larger padding."
                )
    exact = f"{span / st:g}" if st > 1 else f"{span}"
    output_latex = rf"\frac{{W - F + 2P}}{{S}} + 1 = \frac{{{w} - {f} + 2 \cdot {p}}}{{{st}}} + 1 = {exact} + 1"
    output_latex += rf" \Rightarrow {output}" if output is not None else r" \quad\text{(does not fit)}"
    params = conv_params(f, s.in_channels, s.filters)
    params_latex = (
        rf"(F \cdot F \cdot C_{{in}} + 1) \cdot C_{{out}} = ({f} \cdot {f} \cdot {s.in_channels} + 1) \cdot {s.filters}"
        rf" = {params:,}".replace(",", r"{,}")
    )
    described, torch_shape, torch_params, torch_error = _torch_check(s)
    return Arithmetic(
        s, output, pooled, params, output_latex, params_latex, tuple(problems), tuple(notes),
        described, torch_shape, torch_params, torch_error,
    )  # fmt: skip


@dataclass(frozen=True)
class WorkedExample:
    """A single-channel convolution on a small integer grid, every number visible.

    ``padded`` is the input with its zero padding, ``output[i, j]`` is the sum of
    ``kernel * padded[window(i, j)]``; ``matches_torch`` says whether ``F.conv2d`` agrees.
    """

    size: int
    padding: int
    stride: int
    padded: np.ndarray
    kernel: np.ndarray
    output: np.ndarray
    matches_torch: bool

    def window(self, row: int, col: int) -> tuple[int, int]:
        """Top-left corner, in the padded grid, of the window that makes ``output[row, col]``."""
        return row * self.stride, col * self.stride

    def terms(self, row: int, col: int) -> str:
        """The sum of products behind ``output[row, col]``, written out."""
        k = self.kernel.shape[0]
        top, left = self.window(row, col)
        patch = self.padded[top : top + k, left : left + k]
        products = [
            f"{a}·{b}" if b >= 0 else f"{a}·({b})" for a, b in zip(patch.ravel(), self.kernel.ravel(), strict=True)
        ]
        return f"{' + '.join(products)} = {self.output[row, col]}"


def worked_example(size: int, kernel: int, stride: int, padding: int, seed: int = 0) -> WorkedExample:
    """A ``size`` x ``size`` grid of digits 0-4 convolved with a kernel of -1, 0 and 1.

    Raises:
        ValueError: the settings do not fit (see :func:`output_size`).
    """
    side = output_size(size, kernel, stride, padding)
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 5, (size, size))
    weights = rng.integers(-1, 2, (kernel, kernel))
    padded = np.pad(grid, padding)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel))[::stride, ::stride]
    output = np.einsum("ijkl,kl->ij", windows[:side, :side], weights)
    reference = F.conv2d(
        torch.from_numpy(grid).double()[None, None],
        torch.from_numpy(weights).double()[None, None],
        None,
        stride,
        padding,
    )[0, 0]
    return WorkedExample(
        size, padding, stride, padded, weights, output, bool(torch.equal(reference.long(), torch.from_numpy(output)))
    )


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
    _check_positive(size=size)
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
