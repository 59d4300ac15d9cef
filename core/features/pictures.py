"""Pictures for the filters and feature-maps page, built with NumPy (one image per grid) or Plotly.

Feature maps and kernels of a whole layer become one tiled RGB array (milliseconds, even for
2048 channels); only small things a teacher points at (one kernel's numbers, the worked
convolution, per-channel statistics) are Plotly figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw
from plotly.subplots import make_subplots

from core.features.capture import Activations, ConvMaps, Kernels
from core.features.conv_arithmetic import WorkedExample
from core.viz.render import apply_colormap, normalize, overlay, tile, upscale_nearest
from core.viz.theme import FONT

GRID_SIDE = 720  # pixels: small grids are enlarged (nearest) to about this side
MAX_SIDE = 1400  # pixels: Streamlit shrinks wider images anyway
KERNEL_CELL = 28  # pixels a kernel is enlarged to
KERNEL_VIEWS = ("colour (RGB)", "averaged over input channels", "one filter, per input channel")
WEIGHT_COLORMAP = "RdBu_r"  # blue < 0 < red, white at 0, for kernels everywhere on the page
ZEROS_SCALE = [[0.0, "#9ecae1"], [1.0, "#08306b"]]  # light: the channel fires widely; dark: mostly zero
_MARGIN = {"t": 40, "l": 10, "r": 10, "b": 10}


def symmetric01(values: np.ndarray, axis: tuple[int, ...] | None = None) -> np.ndarray:
    """Map to [0, 1] with 0 at 0.5, scaled by the largest magnitude (over ``axis``), for weights."""
    values = np.asarray(values, dtype=np.float32)
    scale = np.abs(values).max(axis=axis, keepdims=True)
    return 0.5 + np.divide(values, 2 * scale, out=np.zeros_like(values), where=scale > 0)


def _enlarge(stack: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge every picture of an ``(N, H, W, 3)`` stack by ``factor`` with visible pixels."""
    return upscale_nearest(stack.transpose(1, 2, 0, 3), factor).transpose(2, 0, 1, 3)


def _grid(stack: np.ndarray, cell: int) -> np.ndarray:
    """Tile an ``(N, H, W, 3)`` uint8 stack with white lines, each picture enlarged to about ``cell`` px."""
    count, height, width = stack.shape[:3]
    columns = math.ceil(math.sqrt(count))
    fit = MAX_SIDE // (columns * (max(height, width) + 1))
    factor = max(1, min(math.ceil(cell / max(height, width)), fit))
    return tile(_enlarge(stack, factor), columns=columns, pad=1, pad_value=255)


def feature_grid(layer: ConvMaps, cmap: str, shared: bool, channels: np.ndarray | None = None) -> np.ndarray:
    """Every channel of ``layer`` (or ``channels``, in that order) as one colour-mapped RGB grid.

    Args:
        layer: the captured layer.
        cmap: a :data:`core.viz.render.COLORMAPS` name.
        shared: one scale for all channels (compare strengths) instead of one per channel (see shapes).
        channels: channel indices to show, in order; default all, in order.
    """
    maps = layer.maps if channels is None else layer.maps[np.asarray(channels)]
    scaled = normalize(maps, axis=None if shared else (1, 2))
    return _grid(apply_colormap(scaled, cmap), cell=GRID_SIDE // math.ceil(math.sqrt(len(maps))))


def map_picture(layer: ConvMaps, channel: int, cmap: str, side: int = 320) -> np.ndarray:
    """One channel, enlarged with visible pixels to about ``side`` px (its own scale)."""
    picture = apply_colormap(normalize(layer.maps[channel]), cmap)
    return upscale_nearest(picture, max(1, side // max(picture.shape[:2])))


@dataclass(frozen=True)
class ChannelOnImage:
    """One channel over the input, with the receptive field of its most active unit boxed."""

    picture: Image.Image
    unit: tuple[int, int]
    value: float
    window: tuple[int, int, int, int] | None  # (left, top, right, bottom), clipped to the image


def channel_on_image(acts: Activations, layer: ConvMaps, channel: int, cmap: str, alpha: float = 0.5) -> ChannelOnImage:
    """Overlay ``channel`` on the picture the model saw and box what its strongest unit sees."""
    if not 0 <= channel < layer.out_channels:
        raise ValueError(f"channel must be between 0 and {layer.out_channels - 1}, got {channel}.")
    values = layer.maps[channel].astype(np.float32)
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    picture = overlay(acts.image, normalize(values), alpha=alpha, cmap=cmap)
    field = layer.receptive_field
    window = None
    if field is not None and not field.is_global:
        top, left, bottom, right = field.window(int(row), int(col))
        width, height = picture.size
        window = (max(left, 0), max(top, 0), min(right, width - 1), min(bottom, height - 1))
        draw = ImageDraw.Draw(picture)
        draw.rectangle(window, outline="black", width=3)
        draw.rectangle(window, outline="white", width=1)
    return ChannelOnImage(picture, (int(row), int(col)), float(values[row, col]), window)


def kernel_grid(kernels: Kernels, view: str, order: np.ndarray, filter_index: int = 0) -> np.ndarray:
    """The kernels of one convolution as one RGB grid, each kernel scaled to its own largest weight.

    Args:
        kernels: the layer's weights.
        view: one of :data:`KERNEL_VIEWS`: colour pictures (3 input channels only), the average
            over input channels for every filter, or every input channel of filter ``filter_index``.
        order: the filters to show, in order (e.g. :meth:`Kernels.order`).
        filter_index: the filter shown per input channel.
    """
    weights = kernels.weights
    if view == KERNEL_VIEWS[0]:
        if weights.shape[1] != 3:
            raise ValueError(f"view {view!r} needs 3 input channels per filter; this layer has {weights.shape[1]}.")
        rgb = symmetric01(weights[order].transpose(0, 2, 3, 1), axis=(1, 2, 3))
        return _grid((rgb * 255).round().astype(np.uint8), KERNEL_CELL)
    if view == KERNEL_VIEWS[1]:
        planes = weights[order].mean(axis=1)
    elif view == KERNEL_VIEWS[2]:
        if not 0 <= filter_index < len(weights):
            raise ValueError(f"filter_index must be between 0 and {len(weights) - 1}, got {filter_index}.")
        planes = weights[filter_index]
    else:
        raise ValueError(f"view must be one of {', '.join(KERNEL_VIEWS)}; got {view!r}.")
    return _grid(apply_colormap(symmetric01(planes, axis=(1, 2)), WEIGHT_COLORMAP), KERNEL_CELL)


def kernel_heatmap(kernel: np.ndarray, title: str) -> go.Figure:
    """One 2-D kernel (blue negative, red positive), its numbers written in the cells up to 5x5."""
    kernel = np.asarray(kernel, dtype=np.float32)
    if kernel.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {kernel.shape}.")
    axis = {"dtick": 1, "showgrid": False, "zeroline": False}
    heatmap = go.Heatmap(
        z=kernel,
        colorscale=WEIGHT_COLORMAP,
        zmid=0,
        # Numbers only where they stay readable on a projector (the lectures' 3x3 and 5x5 examples).
        texttemplate="%{z:.2f}" if max(kernel.shape) <= 5 else None,
        textfont={"size": 18},
        hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>",
        colorbar={"title": {"text": "weight"}},
    )
    layout = {
        "title": {"text": title},
        "font": FONT,
        "height": 360,
        "margin": _MARGIN,
        "xaxis": axis,
        "yaxis": {**axis, "autorange": "reversed", "scaleanchor": "x"},
    }
    return go.Figure(data=[heatmap], layout=layout)


def channel_stats_figure(layer: ConvMaps, selected: int | None = None) -> go.Figure:
    """Mean activation of every channel as bars, coloured by the share of zeros after ReLU."""
    bars = go.Bar(
        x=np.arange(layer.out_channels),
        y=layer.mean,
        marker={
            "color": layer.zeros,
            "colorscale": ZEROS_SCALE,
            "cmin": 0,
            "cmax": 1,
            "colorbar": {"title": {"text": "zeros"}, "tickformat": ".0%"},
        },
        customdata=np.stack([layer.peak, layer.zeros], axis=1),
        hovertemplate="channel %{x}<br>mean %{y:.3f}<br>max %{customdata[0]:.3f}"
        "<br>%{customdata[1]:.0%} zero after ReLU<extra></extra>",
    )
    line = {"type": "line", "x0": selected, "x1": selected, "y0": 0, "y1": 1, "yref": "paper"}
    layout = {
        "xaxis": {"title": {"text": "channel"}},
        "yaxis": {"title": {"text": "mean activation"}},
        "font": FONT,
        "height": 300,
        "margin": _MARGIN,
        "bargap": 0,
        "shapes": [] if selected is None else [{**line, "line": {"color": "#d62728", "width": 2}}],
    }
    return go.Figure(data=[bars], layout=layout)


@dataclass(frozen=True)
class StripPanel:
    """One stage of the depth strip: a layer, its most active channel and its picture."""

    layer: str
    shape: tuple[int, int, int]
    channel: int
    receptive_field: str
    picture: np.ndarray


def depth_strip(acts: Activations, cmap: str, on_image: bool, side: int = 224) -> tuple[StripPanel, ...]:
    """The first convolution and the last one at each resolution, from the stem to the deepest block.

    Each panel shows that layer's most active channel, alone (enlarged with visible pixels, so the
    shrinking resolution shows) or over the input picture. Layers on a 1x1 map (after global
    pooling, e.g. squeeze-and-excitation) are left out.
    """
    spatial = [layer for layer in acts.layers if layer.shape[1] * layer.shape[2] > 1]
    if not spatial:
        return ()
    last_at = {layer.shape[1:]: layer for layer in spatial}  # the last layer at each resolution
    chosen = [spatial[0], *(layer for layer in last_at.values() if layer is not spatial[0])]
    panels = []
    for layer in chosen:
        channel = int(layer.top_channels(1)[0])
        if on_image:
            picture = np.asarray(overlay(acts.image, normalize(layer.maps[channel]), 0.6, cmap))
        else:
            picture = map_picture(layer, channel, cmap, side)
        field = layer.receptive_field.label if layer.receptive_field else "?"
        panels.append(StripPanel(layer.name, layer.shape, channel, field, picture))
    return tuple(panels)


def worked_example_figure(example: WorkedExample, row: int, col: int) -> go.Figure:
    """Input (with its padding), kernel and output side by side; the window behind one output is boxed."""
    k = example.kernel.shape[0]
    fig = make_subplots(
        1,
        3,
        column_widths=[example.padded.shape[1], max(k, 3), max(example.output.shape[1], 3)],
        subplot_titles=("input (padding dashed)", "kernel", "output"),
        horizontal_spacing=0.06,
    )
    grids = [(example.padded, "Blues", None), (example.kernel, WEIGHT_COLORMAP, 0), (example.output, "Viridis", None)]
    for i, (z, scale, mid) in enumerate(grids, start=1):
        fig.add_trace(
            go.Heatmap(
                z=z,
                colorscale=scale,
                zmid=mid,
                showscale=False,
                texttemplate="%{z}",
                textfont={"size": 18 if z.shape[1] <= 12 else 13},
                hoverinfo="skip",
            ),
            1,
            i,
        )
        fig.update_yaxes(
            autorange="reversed",
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            scaleanchor=f"x{i if i > 1 else ''}",
            row=1,
            col=i,
        )
        fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, row=1, col=i)
    top, left = example.window(row, col)
    p, n = example.padding, example.size
    box = {"line": {"color": "#d62728", "width": 4}, "row": 1}
    fig.add_shape(type="rect", x0=left - 0.5, x1=left + k - 0.5, y0=top - 0.5, y1=top + k - 0.5, col=1, **box)
    fig.add_shape(type="rect", x0=col - 0.5, x1=col + 0.5, y0=row - 0.5, y1=row + 0.5, col=3, **box)
    if p:
        fig.add_shape(
            type="rect", x0=p - 0.5, x1=p + n - 0.5, y0=p - 0.5, y1=p + n - 0.5, line={"dash": "dash"}, row=1, col=1
        )
    fig.update_layout(font=FONT, height=380, margin=_MARGIN)
    return fig
