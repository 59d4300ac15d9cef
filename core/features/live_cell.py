"""One unit of a traced convolution written out: products, sum, bias, each step after it, pooling.

Everything here works on a :class:`core.features.live_conv.LayerTrace` (arrays already captured), so
moving to another unit or channel never runs the model. Sums are taken in float64; each
number stands beside the value the model computed at the same unit.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.features.live_conv import LayerTrace, Step, as_pair


@dataclass(frozen=True)
class Term:
    """One step after the convolution at the chosen unit: its formula with the numbers, and the model's value."""

    name: str
    type: str
    formula: str
    before: float
    value: float
    model: float


@dataclass(frozen=True)
class PoolCell:
    """The pooling after the chain: the pooled unit whose window holds the chosen unit."""

    name: str
    type: str
    unit: tuple[int, int]
    top_left: tuple[int, int]  # of its window on the map, may be negative (padding)
    window: np.ndarray  # the values in the window (NaN where it hangs over the border)
    value: float
    model: float


@dataclass(frozen=True, eq=False)
class LiveCell:
    """Every number behind output unit ``(row, col)`` of ``channel``, beside the model's own.

    ``patch`` and ``kernel`` are ``(C_in / groups, kH, kW)``: the input under the kernel (0
    where it hangs over the padding, ``inside`` False there) and the filter's weights.
    ``contributions[i]`` is ``sum(patch[i] * kernel[i])`` for input channel ``input_channels[i]``.
    """

    layer: str
    channel: int
    row: int
    col: int
    input_channels: np.ndarray
    top_left: tuple[int, int]
    patch: np.ndarray
    inside: np.ndarray
    kernel: np.ndarray
    contributions: np.ndarray
    bias: float
    conv_value: float
    conv_model: float
    steps: tuple[Term, ...]
    pool: PoolCell | None
    stopped: str

    @property
    def value(self) -> float:
        """The unit's value after the last step shown, computed here."""
        return self.steps[-1].value if self.steps else self.conv_value

    @property
    def model_value(self) -> float:
        """The same value as the model computed it."""
        return self.steps[-1].model if self.steps else self.conv_model

    @property
    def order(self) -> np.ndarray:
        """Positions in ``contributions``, largest magnitude first."""
        return np.argsort(-np.abs(self.contributions), kind="stable")

    def csv(self) -> str:
        """The contributions (largest first), the bias and every step, as CSV text."""
        lines = ["term,input_channel,value"]
        lines += [f"conv,{self.input_channels[i]},{self.contributions[i]:.9g}" for i in self.order]
        lines += [f"bias,,{self.bias:.9g}", f"conv output,,{self.conv_value:.9g}"]
        lines += [f"{t.type},,{t.value:.9g}" for t in self.steps]
        if self.pool is not None:
            lines.append(f"{self.pool.type},,{self.pool.value:.9g}")
        return "\n".join(lines) + "\n"


def _window(trace: LayerTrace, row: int, col: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """The ``(C_in, kH, kW)`` input under the kernel at output ``(row, col)`` (zeros over padding) and its mask."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = trace.kernel, trace.stride, trace.padding, trace.dilation
    top, left = row * sh - ph, col * sw - pw
    rows, cols = top + dh * np.arange(kh), left + dw * np.arange(kw)
    height, width = trace.inputs.shape[1:]
    inside = ((rows >= 0) & (rows < height))[:, None] & ((cols >= 0) & (cols < width))[None, :]
    patch = trace.inputs[:, np.clip(rows, 0, height - 1)][:, :, np.clip(cols, 0, width - 1)].astype(np.float64)
    return np.where(inside, patch, 0.0), inside, (top, left)


def _formula(module: nn.Module, x: float) -> tuple[str, float]:
    """The step's formula with the numbers in, and its value at ``x`` (float64)."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        raise TypeError("batch norm needs a channel; see _batch_norm")
    with torch.no_grad():
        value = float(copy.deepcopy(module).double()(torch.tensor([[[[x]]]], dtype=torch.float64)).item())
    if type(module) is nn.ReLU:
        return f"max(0, {x:.4f}) = {value:.4f}", value
    if isinstance(module, nn.Hardtanh):
        low, high = module.min_val, module.max_val
        return f"min(max({low:g}, {x:.4f}), {high:g}) = {value:.4f}", value
    return f"{type(module).__name__}({x:.4f}) = {value:.4f}", value


def _batch_norm(module: nn.modules.batchnorm._BatchNorm, channel: int, x: float) -> tuple[str, float]:
    mean, var = float(module.running_mean[channel]), float(module.running_var[channel])
    gamma = float(module.weight[channel]) if module.weight is not None else 1.0
    beta = float(module.bias[channel]) if module.bias is not None else 0.0
    value = (x - mean) / np.sqrt(var + module.eps) * gamma + beta
    text = f"({x:.4f} − {mean:.4f}) / √({var:.4f} + {module.eps:g}) · {gamma:.4f} + {beta:.4f} = {value:.4f}"
    return text, float(value)


def _pool_cell(step: Step, source: np.ndarray, channel: int, row: int, col: int) -> PoolCell | None:
    pool = step.module
    (k, s, p) = (as_pair(pool.kernel_size), as_pair(pool.stride or pool.kernel_size), as_pair(pool.padding))
    if isinstance(pool, nn.MaxPool2d) and as_pair(pool.dilation) != (1, 1):
        return None
    units = [
        (pr, pc)
        for pr in range(step.output.shape[1])
        for pc in range(step.output.shape[2])
        if 0 <= row - (pr * s[0] - p[0]) < k[0] and 0 <= col - (pc * s[1] - p[1]) < k[1]
    ]
    if not units:
        return None  # the unit falls in no window (a stride larger than the kernel)
    pr, pc = units[0]
    top, left = pr * s[0] - p[0], pc * s[1] - p[1]
    height, width = source.shape[1:]
    window = np.full(k, np.nan)
    for i in range(k[0]):
        for j in range(k[1]):
            if 0 <= top + i < height and 0 <= left + j < width:
                window[i, j] = source[channel, top + i, left + j]
    if isinstance(pool, nn.MaxPool2d):
        value = float(np.nanmax(window))
    else:
        divisor = window.size if pool.count_include_pad else np.isfinite(window).sum()
        value = float(np.nansum(window) / (pool.divisor_override or divisor))
    model = float(step.output[channel, pr, pc])
    return PoolCell(step.name, step.type, (pr, pc), (top, left), window, value, model)


def explain_cell(trace: LayerTrace, channel: int, row: int, col: int) -> LiveCell:
    """Write out output unit ``(row, col)`` of ``channel``: products, sum, bias, then each step.

    Raises:
        ValueError: the channel or the position is outside the layer's output.
    """
    channels, height, width = trace.output.shape
    for what, value, limit in (("channel", channel, channels), ("row", row, height), ("col", col, width)):
        if not 0 <= value < limit:
            raise ValueError(f"{what} must be between 0 and {limit - 1}, got {value}.")
    per_group, out_per_group = trace.weight.shape[1], channels // trace.groups
    first = (channel // out_per_group) * per_group
    inputs = np.arange(first, first + per_group)
    window, inside, top_left = _window(trace, row, col)
    patch, kernel = window[inputs], trace.weight[channel].astype(np.float64)
    contributions = (patch * kernel).sum(axis=(1, 2))
    bias = 0.0 if trace.bias is None else float(trace.bias[channel])
    x = float(np.sort(contributions).sum() + bias)
    conv_value, terms = x, []
    for step in trace.steps:
        if isinstance(step.module, nn.modules.batchnorm._BatchNorm):
            formula, value = _batch_norm(step.module, channel, x)
        else:
            formula, value = _formula(step.module, x)
        terms.append(Term(step.name, step.type, formula, x, value, float(step.output[channel, row, col])))
        x = value
    last = trace.steps[-1].output if trace.steps else trace.output
    pool = _pool_cell(trace.pool, last, channel, row, col) if trace.pool is not None else None
    return LiveCell(
        trace.name, channel, row, col, inputs, top_left, patch, inside, kernel, contributions, bias,
        conv_value, float(trace.output[channel, row, col]), tuple(terms), pool, trace.stopped,
    )  # fmt: skip


@dataclass(frozen=True)
class Sweep:
    """A small crop for the play control: output units ``rows`` x ``cols`` and the input they see.

    ``inputs`` is input channel ``input_channel`` from ``top_left`` on (zeros over the padding),
    ``output`` the convolution's output (all input channels, plus bias) on the crop.
    """

    input_channel: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    top_left: tuple[int, int]
    inputs: np.ndarray
    kernel: np.ndarray
    output: np.ndarray
    stride: tuple[int, int]
    dilation: tuple[int, int]


def _region(plane: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """``plane[top : top + height, left : left + width]`` in float64, zeros where it leaves the plane."""
    out = np.zeros((height, width))
    r0, c0 = max(top, 0), max(left, 0)
    r1, c1 = min(top + height, plane.shape[0]), min(left + width, plane.shape[1])
    if r1 > r0 and c1 > c0:
        out[r0 - top : r1 - top, c0 - left : c1 - left] = plane[r0:r1, c0:c1]
    return out


def sweep(trace: LayerTrace, channel: int, row: int, col: int, input_channel: int, radius: int = 2) -> Sweep:
    """The ``(2 * radius + 1)``-unit square of outputs around ``(row, col)`` (clipped to the map) and its input."""
    cell = explain_cell(trace, channel, row, col)
    matches = np.flatnonzero(cell.input_channels == input_channel)
    if not len(matches):
        raise ValueError(f"input_channel {input_channel} is not seen by filter {channel}; use one of its inputs.")
    height, width = trace.output.shape[1:]
    rows = tuple(range(max(0, row - radius), min(height, row + radius + 1)))
    cols = tuple(range(max(0, col - radius), min(width, col + radius + 1)))
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = trace.kernel, trace.stride, trace.padding, trace.dilation
    top, left = rows[0] * sh - ph, cols[0] * sw - pw
    bottom, right = rows[-1] * sh - ph + dh * (kh - 1), cols[-1] * sw - pw + dw * (kw - 1)
    crop = _region(trace.inputs[input_channel], top, left, bottom - top + 1, right - left + 1)
    output = trace.output[channel][np.ix_(rows, cols)].astype(np.float64)
    kernel = trace.weight[channel, int(matches[0])].astype(np.float64)
    return Sweep(input_channel, rows, cols, (top, left), crop, kernel, output, trace.stride, trace.dilation)
