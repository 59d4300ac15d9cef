"""Pictures of the live convolution: the unit's window on the photo, the sum as a waterfall, the sweep.

Built from :class:`core.features.live_cell.LiveCell` and :class:`core.features.live_cell.Sweep` (numbers already
computed); nothing here runs a model. Plotly figures use the projector-sized fonts of
:mod:`core.viz.theme`; the sweep animates in the browser (Plotly frames), with no server round trip.
They are redrawn on every unit move, so they are built from plain dicts
(:func:`core.viz.theme.light_figure`): a few milliseconds, not the hundreds Plotly's checks take.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from core.features.live_cell import LiveCell, PoolCell, Sweep
from core.features.pictures import WEIGHT_COLORMAP
from core.features.receptive_fields import ReceptiveField
from core.viz.render import apply_colormap, normalize, upscale_nearest
from core.viz.theme import FONT, light_figure

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
    waterfall = {
        "type": "waterfall",
        "x": labels,
        "y": values,
        "measure": ["relative"] * (len(values) - 1) + ["total"],
        "text": [f"{v:+.3f}" for v in values[:-1]] + [f"{values[-1]:.3f}"],
        "textposition": "outside",
        "textfont": FONT,
        "increasing": {"marker": {"color": "#d62728"}},
        "decreasing": {"marker": {"color": "#1f77b4"}},
        "totals": {"marker": {"color": "#444444"}},
        "connector": {"line": {"color": "#999999"}},
        "cliponaxis": False,
    }
    layout = {
        "title": {"text": f"channel {cell.channel} at ({cell.row}, {cell.col}): the sum, term by term"},
        "yaxis": {"title": {"text": "running sum"}},
        "xaxis": {},
        "margin": _MARGIN,
        "showlegend": False,
    }
    return light_figure([waterfall], layout, height=420)


def _heatmap(z: np.ndarray, scale: str, numbers: bool, mid: float | None = 0.0, axis: int = 1) -> dict:
    """A heatmap trace on subplot ``axis`` (1 = ``x``/``y``, 2 = ``x2``/``y2``...); NaN stays blank."""
    trace = {
        "type": "heatmap",
        "z": np.asarray(z, dtype=np.float64),
        "colorscale": scale,
        "showscale": False,
        "hovertemplate": "row %{y}, column %{x}: %{z:.4f}<extra></extra>",
        "xaxis": f"x{axis if axis > 1 else ''}",
        "yaxis": f"y{axis if axis > 1 else ''}",
    }
    if mid is not None:
        trace["zmid"] = mid
    if numbers:
        trace |= {"texttemplate": "%{z:.2f}", "textfont": {"size": 16}}
    return trace


def _panels(titles: tuple[str, ...], widths: list[float], spacing: float, shapes: list[tuple[int, int]]) -> dict:
    """The layout of one row of square-celled panels side by side (what ``make_subplots(1, n)`` lays out)."""
    total, free = sum(widths), 1 - spacing * (len(widths) - 1)
    layout: dict = {"annotations": []}
    left = 0.0
    for i, (title, width, (height, cols)) in enumerate(zip(titles, widths, shapes, strict=True), start=1):
        right = left + free * width / total
        suffix = str(i) if i > 1 else ""
        layout[f"xaxis{suffix}"] = {
            "domain": [left, right],
            "anchor": f"y{suffix}",
            "showticklabels": False,
            "showgrid": False,
            "range": [-0.5, cols - 0.5],
        }
        layout[f"yaxis{suffix}"] = {
            "domain": [0, 1],
            "anchor": f"x{suffix}",
            "showticklabels": False,
            "showgrid": False,
            "range": [height - 0.5, -0.5],
            "scaleanchor": f"x{suffix}",
        }
        layout["annotations"].append(
            {
                "text": title,
                "x": (left + right) / 2,
                "y": 1,
                "xref": "paper",
                "yref": "paper",
                "xanchor": "center",
                "yanchor": "bottom",
                "showarrow": False,
                "font": FONT,
            }
        )
        left = right + spacing
    return layout


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
    data = [
        _heatmap(z, scale, numbers, mid, axis)
        for axis, (z, scale, mid) in enumerate(
            ((patch, "Greys", None), (kernel, WEIGHT_COLORMAP, 0.0), (patch * kernel, WEIGHT_COLORMAP, 0.0)), start=1
        )
    ]
    layout = _panels(titles, [1, 1, 1], 0.05, [kernel.shape] * 3)
    layout["margin"] = _MARGIN
    layout["shapes"] = [  # padding: the kernel hangs over the border, the input there is 0
        {
            "type": "rect",
            "xref": "x",
            "yref": "y",
            "x0": c - 0.5,
            "x1": c + 0.5,
            "y0": r - 0.5,
            "y1": r + 0.5,
            "line": {"dash": "dot"},
        }
        for r, c in np.argwhere(~cell.inside)
    ]
    return light_figure(data, layout, height=340)


def _sweep_boxes(sw: Sweep, i: int, j: int) -> list[dict]:
    (kh, kw), (sh, sw_), (dh, dw) = sw.kernel.shape, sw.stride, sw.dilation
    top, left = i * sh, j * sw_
    window = {"x0": left - 0.5, "x1": left + dw * (kw - 1) + 0.5, "y0": top - 0.5, "y1": top + dh * (kh - 1) + 0.5}
    unit = {"x0": j - 0.5, "x1": j + 0.5, "y0": i - 0.5, "y1": i + 0.5}
    return [
        {"type": "rect", "xref": "x", "yref": "y", "line": _BOX, **window},
        {"type": "rect", "xref": "x3", "yref": "y3", "line": _BOX, **unit},
    ]


def _sweep_controls(steps: int) -> dict:
    play = {"frame": {"duration": 600, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    return {
        "updatemenus": [
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
        "sliders": [
            {
                "x": 0.25,
                "len": 0.75,
                "y": -0.02,
                "currentvalue": {"prefix": "step ", "font": FONT},
                "steps": [
                    {"label": str(s), "method": "animate", "args": [[str(s)], {"mode": "immediate"}]}
                    for s in range(steps)
                ],
            }
        ],
    }


def sweep_figure(sw: Sweep) -> go.Figure:
    """The kernel stepping over a small crop, stride by stride; press play (animated in the browser).

    Left: one input channel (0 over the padding) with the kernel's window; middle: its kernel;
    right: the convolution's output on the crop, filled in as the window moves.
    """
    rows, cols = len(sw.rows), len(sw.cols)
    low, high = float(np.min(sw.output)), float(np.max(sw.output))
    order = np.arange(rows * cols).reshape(rows, cols)

    def filled(step: int) -> dict:  # the output so far, on fixed cells and a fixed colour scale
        return {
            "type": "heatmap",
            "z": np.where(order <= step, sw.output, np.nan),
            "zmin": low,
            "zmax": high,
            "colorscale": "Viridis",
            "texttemplate": "%{z:.2f}",
            "textfont": {"size": 16},
            "showscale": False,
            "hoverinfo": "skip",
            "xaxis": "x3",
            "yaxis": "y3",
        }

    data = [
        _heatmap(sw.inputs, "Greys", sw.inputs.size <= 15 * 15, None, 1),
        _heatmap(sw.kernel, WEIGHT_COLORMAP, max(sw.kernel.shape) <= 5, 0.0, 2),
        filled(0),
    ]
    titles = (f"input channel {sw.input_channel}", "kernel", "output (all inputs + bias)")
    widths = [sw.inputs.shape[1], max(sw.kernel.shape[1], 3), max(cols, 3)]
    layout = _panels(titles, widths, 0.06, [sw.inputs.shape, sw.kernel.shape, (rows, cols)])
    layout |= _sweep_controls(rows * cols)
    layout |= {"shapes": _sweep_boxes(sw, 0, 0), "margin": {"t": 50, "l": 10, "r": 10, "b": 90}}
    frames = [
        {
            "data": [filled(step)],
            "traces": [2],
            "name": str(step),
            "layout": {"shapes": _sweep_boxes(sw, *divmod(step, cols))},
        }
        for step in range(rows * cols)
    ]
    return light_figure(data, layout, frames, height=460)


def pool_figure(pool: PoolCell) -> go.Figure:
    """The pooling window that holds the chosen unit, its numbers, and the pooled value."""
    how = "largest" if pool.type == "MaxPool2d" else "mean"
    layout = {
        "title": {"text": f"{pool.type}: the {how} of this window = {pool.value:.3f} (unit {pool.unit})"},
        "xaxis": {"showticklabels": False},
        "yaxis": {"showticklabels": False, "autorange": "reversed", "scaleanchor": "x"},
        "margin": _MARGIN,
    }
    return light_figure([_heatmap(pool.window, "Viridis", max(pool.window.shape) <= 5, None)], layout, height=300)
