"""One Plotly look for every chart: large fonts, readable on a classroom projector."""

from __future__ import annotations

import plotly.graph_objects as go

FONT = {"size": 18, "color": "#111111"}  # ticks and labels readable from the back of a classroom


def styled(fig: go.Figure, height: int | None = None) -> go.Figure:
    """Large, explicit fonts everywhere: readable on a classroom projector.

    Axis tick and title fonts are set one by one, as Streamlit's chart theme would otherwise
    replace the layout-wide font with its small default.
    """
    fig.update_layout(font=FONT, legend={"font": FONT}, hoverlabel={"font": FONT})
    fig.update_xaxes(tickfont=FONT, title_font=FONT)
    fig.update_yaxes(tickfont=FONT, title_font=FONT)
    if height is not None:
        fig.update_layout(height=height)
    return fig


def light_figure(
    data: list[dict], layout: dict, frames: list[dict] | None = None, height: int | None = None
) -> go.Figure:
    """A figure from plain dicts in the look of :func:`styled`, built without Plotly's per-property checks.

    Building ``go.Figure`` objects trace by trace (and ``make_subplots``) validates every property
    in Python: tens of milliseconds per figure, hundreds for an animation. Pictures redrawn on
    every slider move use this instead (their tests validate the result with ``go.Figure(fig.to_dict())``).
    Axes named in ``layout`` (``xaxis``, ``yaxis2``...) get the projector fonts.
    """
    layout = {
        **layout,
        "font": FONT,
        "legend": {**layout.get("legend", {}), "font": FONT},
        "hoverlabel": {**layout.get("hoverlabel", {}), "font": FONT},
    }
    for name in [k for k in layout if k.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]:
        axis = dict(layout.get(name, {}))
        axis["tickfont"] = FONT
        axis["title"] = {**axis.get("title", {}), "font": FONT}
        layout[name] = axis
    if height is not None:
        layout["height"] = height
    spec = {"data": data, "layout": layout, "frames": frames or []}
    return go.Figure(spec, _validate=False)
