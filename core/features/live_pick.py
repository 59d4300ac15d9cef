"""Pick a unit of a feature map by clicking it: the clickable map and reading the click back.

:func:`unit_map_figure` draws one channel's map as a heatmap with a transparent marker on every
cell (a click on a heatmap is not reported as a selected point; a marker is), its unit number
in ``customdata``. :func:`picked_unit` turns the selection a chart reports (Streamlit's
``st.plotly_chart(..., on_select=...)`` state: ``{"selection": {"points": [...]}}``) back into
``(row, col)``, or None when it holds no valid cell.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from core.viz.theme import light_figure

GL_FROM = 4096  # cells: from here the markers are drawn with WebGL (SVG gets slow)
_BOX = {"color": "white", "width": 3}


def unit_map_figure(values: np.ndarray, row: int, col: int, title: str = "", height: int = 420) -> go.Figure:
    """One channel's ``(H, W)`` map, unit ``(row, col)`` boxed; a click on any cell selects it."""
    height_cells, width_cells = values.shape
    rows, cols = np.divmod(np.arange(height_cells * width_cells), width_cells)
    heat = {
        "type": "heatmap",
        "z": np.asarray(values, dtype=np.float32),
        "colorscale": "Viridis",
        "showscale": False,
        "hoverinfo": "skip",
    }
    cells = {
        "type": "scattergl" if rows.size >= GL_FROM else "scatter",
        "x": cols,
        "y": rows,
        "customdata": np.stack([rows, cols], axis=1),
        "mode": "markers",
        "marker": {"size": max(4, min(24, 360 // max(values.shape))), "opacity": 0, "symbol": "square"},
        "hovertemplate": "unit (%{customdata[0]}, %{customdata[1]}): click to pick<extra></extra>",
        "showlegend": False,
    }
    box = {"type": "rect", "x0": col - 0.5, "x1": col + 0.5, "y0": row - 0.5, "y1": row + 0.5, "line": _BOX}
    layout = {
        "title": {"text": title},
        "xaxis": {"range": [-0.5, width_cells - 0.5], "showticklabels": False, "showgrid": False, "zeroline": False},
        "yaxis": {"range": [height_cells - 0.5, -0.5], "showticklabels": False, "showgrid": False,
                  "zeroline": False, "scaleanchor": "x"},
        "shapes": [box],
        "margin": {"t": 50 if title else 10, "l": 10, "r": 10, "b": 10},
        "clickmode": "event+select",
        "dragmode": False,
    }  # fmt: skip
    return light_figure([heat, cells], layout, height=height)


def _cell(point: Mapping, height: int, width: int) -> tuple[int, int] | None:
    data = point.get("customdata")
    if isinstance(data, Mapping):  # a typed array (WebGL traces) arrives as {"0": row, "1": col}
        data = [data.get("0"), data.get("1")]
    candidate = data if isinstance(data, (list, tuple)) and len(data) == 2 else (point.get("y"), point.get("x"))
    try:
        row, col = (int(v) for v in candidate)
        if any(float(v) != int(v) for v in candidate):
            return None
    except (TypeError, ValueError, OverflowError):
        return None
    return (row, col) if 0 <= row < height and 0 <= col < width else None


def picked_unit(event: Mapping | None, height: int, width: int) -> tuple[int, int] | None:
    """The ``(row, col)`` of the last clicked cell in a chart's selection ``event``, or None.

    None when the event is missing or empty, or its point is not a cell of an ``height`` x
    ``width`` map (another trace, a number out of range, not a number).
    """
    if not isinstance(event, Mapping):
        return None
    selection = event.get("selection")
    points = selection.get("points") if isinstance(selection, Mapping) else None
    if not isinstance(points, (list, tuple)):
        return None
    for point in reversed(points):
        if isinstance(point, Mapping):
            cell = _cell(point, height, width)
            if cell is not None:
                return cell
    return None
