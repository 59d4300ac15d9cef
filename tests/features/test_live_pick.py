"""Picking a unit by clicking the feature map: the clickable figure and reading a selection back."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from core.features.live_pick import GL_FROM, picked_unit, unit_map_figure


def _event(*points) -> dict:
    return {"selection": {"points": list(points), "point_indices": [], "box": [], "lasso": []}}


def test_every_cell_has_a_clickable_marker_that_names_it_and_the_unit_is_boxed() -> None:
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    fig = unit_map_figure(values, 2, 1, "title")
    checked = go.Figure(fig.to_dict())  # Plotly's own validation of the figure built from plain dicts
    assert [t.type for t in checked.data] == ["heatmap", "scatter"]
    heat, cells = fig.data
    assert heat.type == "heatmap" and np.array_equal(np.asarray(heat.z), values)
    assert cells.type == "scatter" and cells.marker.opacity == 0 and len(cells.x) == 12
    for x, y, (row, col) in zip(cells.x, cells.y, np.asarray(cells.customdata), strict=True):
        assert (y, x) == (row, col) and values[row, col] == row * 4 + col  # marker (x, y) sits on cell (row, col)
    (box,) = checked.layout.shapes
    assert (box.x0, box.x1, box.y0, box.y1) == (0.5, 1.5, 1.5, 2.5)
    big = unit_map_figure(np.zeros((64, 64)), 0, 0)
    assert GL_FROM <= 64 * 64 and big.data[1].type == "scattergl"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (_event({"x": 3, "y": 2, "customdata": [2, 3], "point_index": 11}), (2, 3)),
        (_event({"x": 3.0, "y": 1.0}), (1, 3)),  # no customdata: the marker's position
        (_event({"x": 2, "y": 1, "customdata": {"0": 1, "1": 2}}), (1, 2)),  # scattergl: a typed array
        (_event({"customdata": [0, 0]}, {"customdata": [1, 2]}), (1, 2)),  # the last one clicked
        (_event({"customdata": [1, 2]}, {"customdata": [9, 9]}), (1, 2)),  # the last valid one
        (_event(), None),  # a click that deselected
        (None, None),
        ({}, None),
        ({"selection": None}, None),
        ({"selection": {"points": "2,3"}}, None),
        (_event({"customdata": [3, 0]}), None),  # row out of range
        (_event({"customdata": [-1, 0]}), None),
        (_event({"x": 4, "y": 0}), None),  # column out of range
        (_event({"x": 1.5, "y": 0}), None),  # between cells
        (_event({"x": float("nan"), "y": 0}), None),
        (_event({"x": "a", "y": 0}), None),
        (_event({"y": 0}), None),
        (_event("not a point"), None),
    ],
)
def test_a_selection_event_maps_to_the_clicked_cell_or_none(event, expected) -> None:
    assert picked_unit(event, 3, 4) == expected
