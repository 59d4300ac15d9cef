"""Pictures of the live convolution: the unit's window on the photo, the sum as a waterfall, the sweep.

Built from :class:`core.features.live_cell.LiveCell` and :class:`core.features.live_cell.Sweep` (numbers already
computed); nothing here runs a model. Plotly figures use the projector-sized fonts of
:mod:`core.viz.theme`; the sweep animates in the browser (Plotly frames), with no server round trip.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw
from plotly.subplots import make_subplots

from core.features.conv_arithmetic import ReceptiveField
from core.features.live_cell import LiveCell, PoolCell, Sweep
from core.features.pictures import WEIGHT_COLORMAP
from core.viz.render import apply_colormap, normalize, upscale_nearest
from core.viz.theme import FONT, styled

SHOWN_TERMS = 12  # input channels drawn one by one in the waterfall; the rest are summed
_MARGIN = {"t": 50, "l": 10, "r": 10, "b": 10}
_BOX = {"color": "#d62728", "width": 4}


def _rectangle(picture: Image.Image, box: tuple[int, int, int, int]) -> None:
    draw = ImageDraw.Draw(picture)
    draw.rectangle(box, outline="black", width=4)
    draw.rectangle(box, outline="white", width=2)


def field_on_image(
    image: Image.Image, field: ReceptiveField | None, row: int, col: int, side: int = 320
) -> Image.Image:
    """The input photo (small ones enlarged to about ``side`` px) with unit ``(row, col)``'s receptive field boxed."""
    factor = max(1, side // max(image.size))
    picture = image.convert("RGB").resize((image.width * factor, image.height * factor), Image.NEAREST)
    if field is not None and not field.is_global:
        top, left, bottom, right = field.window(row, col)
        width, height = image.size
        top, left = max(top, 0) * factor, max(left, 0) * factor
        bottom, right = (min(bottom, height - 1) + 1) * factor - 1, (min(right, width - 1) + 1) * factor - 1
        _rectangle(picture, (left, top, right, bottom))
    return picture


def map_with_unit(values: np.ndarray, row: int, col: int, cmap: str, side: int = 320) -> Image.Image:
    """One channel's map enlarged with visible pixels, the chosen unit boxed."""
    factor = max(1, side // max(values.shape))
    picture = Image.fromarray(upscale_nearest(apply_colormap(normalize(values), cmap), factor))
    margin = 2  # the outline goes around the unit, not over it
    _rectangle(picture, (col * factor - margin, row * factor - margin, (col + 1) * factor - 1 + margin,
                         (row + 1) * factor - 1 + margin))  # fmt: skip
    return picture


def contributions_figure(cell: LiveCell) -> go.Figure:
    """The unit's value as a waterfall: each input channel's contribution (largest first), the bias, the total."""
    order = cell.order
    shown, rest = order[:SHOWN_TERMS], order[SHOWN_TERMS:]
    labels = [f"in {cell.input_channels[i]}" for i in shown]
    values = [float(cell.contributions[i]) for i in shown]
    if len(rest):
        labels.append(f"{len(rest)} others")
        values.append(float(cell.contributions[rest].sum()))
    labels += ["bias", "conv output"]
    values += [cell.bias, cell.conv_value]
    measure = ["relative"] * (len(values) - 1) + ["total"]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=measure,
            text=[f"{v:+.3f}" for v in values[:-1]] + [f"{values[-1]:.3f}"],
            textposition="outside",
            textfont=FONT,
            increasing={"marker": {"color": "#d62728"}},
            decreasing={"marker": {"color": "#1f77b4"}},
            totals={"marker": {"color": "#444444"}},
            connector={"line": {"color": "#999999"}},
            cliponaxis=False,
        )
    )
    fig.update_layout(
        title={"text": f"channel {cell.channel} at ({cell.row}, {cell.col}): the sum, term by term"},
        yaxis={"title": {"text": "running sum"}},
        margin=_MARGIN,
        showlegend=False,
    )
    return styled(fig, height=420)


def _heatmap(z: np.ndarray, scale: str, numbers: bool, mid: float | None = 0.0) -> go.Heatmap:
    return go.Heatmap(
        z=z,
        colorscale=scale,
        zmid=mid,
        showscale=False,
        texttemplate="%{z:.2f}" if numbers else None,
        textfont={"size": 16},
        hovertemplate="row %{y}, column %{x}: %{z:.4f}<extra></extra>",
    )


def patch_figure(cell: LiveCell, position: int) -> go.Figure:
    """Input patch x kernel = products, for input channel ``cell.input_channels[position]``."""
    patch, kernel = cell.patch[position], cell.kernel[position]
    numbers = max(kernel.shape) <= 5
    channel = cell.input_channels[position]
    total = float(cell.contributions[position])
    titles = (
        f"input {channel} under the kernel",
        f"kernel (filter {cell.channel}, input {channel})",
        f"× = {total:.3f}",
    )
    fig = make_subplots(1, 3, subplot_titles=titles, horizontal_spacing=0.05)
    for i, (z, scale, mid) in enumerate(
        ((patch, "Greys", None), (kernel, WEIGHT_COLORMAP, 0.0), (patch * kernel, WEIGHT_COLORMAP, 0.0)), start=1
    ):
        fig.add_trace(_heatmap(z, scale, numbers, mid), 1, i)
        fig.update_yaxes(autorange="reversed", showticklabels=False, scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
        fig.update_xaxes(showticklabels=False, row=1, col=i)
    hidden = np.argwhere(~cell.inside)
    for r, c in hidden:  # padding: the kernel hangs over the border, the input there is 0
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=r - 0.5, y1=r + 0.5, line={"dash": "dot"}, row=1, col=1)
    fig.update_layout(margin=_MARGIN, font=FONT)
    fig.update_annotations(font=FONT)
    return styled(fig, height=340)


def _sweep_boxes(sw: Sweep, i: int, j: int) -> list[dict]:
    (kh, kw), (sh, sw_), (dh, dw) = sw.kernel.shape, sw.stride, sw.dilation
    top, left = i * sh, j * sw_
    window = {"x0": left - 0.5, "x1": left + dw * (kw - 1) + 0.5, "y0": top - 0.5, "y1": top + dh * (kh - 1) + 0.5}
    unit = {"x0": j - 0.5, "x1": j + 0.5, "y0": i - 0.5, "y1": i + 0.5}
    return [
        {"type": "rect", "xref": "x", "yref": "y", "line": _BOX, **window},
        {"type": "rect", "xref": "x3", "yref": "y3", "line": _BOX, **unit},
    ]


def sweep_figure(sw: Sweep) -> go.Figure:
    """The kernel stepping over a small crop, stride by stride; press play (animated in the browser).

    Left: one input channel (0 over the padding) with the kernel's window; middle: its kernel;
    right: the convolution's output on the crop, filled in as the window moves.
    """
    rows, cols = len(sw.rows), len(sw.cols)
    numbers = sw.inputs.size <= 15 * 15
    fig = make_subplots(
        1,
        3,
        column_widths=[sw.inputs.shape[1], max(sw.kernel.shape[1], 3), max(cols, 3)],
        subplot_titles=(f"input channel {sw.input_channel}", "kernel", "output (all inputs + bias)"),
        horizontal_spacing=0.06,
    )
    fig.add_trace(_heatmap(sw.inputs, "Greys", numbers, None), 1, 1)
    fig.add_trace(_heatmap(sw.kernel, WEIGHT_COLORMAP, max(sw.kernel.shape) <= 5), 1, 2)
    low, high = float(np.min(sw.output)), float(np.max(sw.output))

    def filled(step: int) -> go.Heatmap:  # the output so far, on fixed cells and a fixed colour scale
        z = np.where(np.arange(rows * cols).reshape(rows, cols) <= step, sw.output, np.nan)
        return go.Heatmap(
            z=z, x=np.arange(cols), y=np.arange(rows), zmin=low, zmax=high, colorscale="Viridis",
            texttemplate="%{z:.2f}", textfont={"size": 16}, showscale=False, hoverinfo="skip",
        )  # fmt: skip

    fig.add_trace(filled(0), 1, 3)
    shapes = ((sw.inputs.shape[0], sw.inputs.shape[1]), sw.kernel.shape, (rows, cols))
    for i, (height, width) in enumerate(shapes, start=1):
        fig.update_yaxes(range=[height - 0.5, -0.5], showticklabels=False, showgrid=False, row=1, col=i)
        fig.update_xaxes(range=[-0.5, width - 0.5], showticklabels=False, showgrid=False, row=1, col=i)
        fig.update_yaxes(scaleanchor=f"x{i if i > 1 else ''}", row=1, col=i)
    frames = []
    for step in range(rows * cols):
        i, j = divmod(step, cols)
        frames.append(
            go.Frame(data=[filled(step)], traces=[2], name=str(step), layout={"shapes": _sweep_boxes(sw, i, j)})
        )
    fig.frames = frames
    play = {"frame": {"duration": 600, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    fig.update_layout(
        shapes=_sweep_boxes(sw, 0, 0),
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "x": 0,
                "y": -0.08,
                "xanchor": "left",
                "font": FONT,
                "buttons": [
                    {"label": "▶ play", "method": "animate", "args": [None, play]},
                    {"label": "❚❚ pause", "method": "animate", "args": [[None], {"mode": "immediate"}]},
                ],
            }
        ],
        sliders=[
            {
                "x": 0.25,
                "len": 0.75,
                "y": -0.02,
                "currentvalue": {"prefix": "step ", "font": FONT},
                "steps": [
                    {"label": str(s), "method": "animate", "args": [[str(s)], {"mode": "immediate"}]}
                    for s in range(rows * cols)
                ],
            }
        ],
        margin={"t": 50, "l": 10, "r": 10, "b": 90},
    )
    fig.update_annotations(font=FONT)
    return styled(fig, height=460)


def pool_figure(pool: PoolCell) -> go.Figure:
    """The pooling window that holds the chosen unit, its numbers, and the pooled value."""
    how = "largest" if pool.type == "MaxPool2d" else "mean"
    fig = go.Figure(_heatmap(pool.window, "Viridis", max(pool.window.shape) <= 5, None))
    fig.update_layout(
        title={"text": f"{pool.type}: the {how} of this window = {pool.value:.3f} (unit {pool.unit})"},
        xaxis={"showticklabels": False},
        yaxis={"showticklabels": False, "autorange": "reversed", "scaleanchor": "x"},
        margin=_MARGIN,
    )
    return styled(fig, height=300)
