"""One Plotly look for every chart: large fonts, readable on a classroom projector."""

from __future__ import annotations

import plotly.graph_objects as go

FONT = {"size": 16}


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
