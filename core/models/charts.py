"""Plotly figures for the model zoo: the accuracy-versus-cost chart and top-k bars."""

from __future__ import annotations

import plotly.graph_objects as go

from core import safe_text
from core.models.classify import Classification
from core.models.registry import ModelCard
from core.viz.theme import FONT, styled

FAMILY_COLOURS = {
    "AlexNet": "#8c564b",
    "VGG": "#d62728",
    "ResNet": "#1f77b4",
    "DenseNet": "#9467bd",
    "MobileNet": "#2ca02c",
    "EfficientNet": "#ff7f0e",
    "RegNet": "#17becf",
    "ConvNeXt": "#e377c2",
}


def zoo_figure(cards: list[ModelCard], highlight: str | None = None) -> go.Figure:
    """ImageNet top-1 accuracy against GFLOPs (log scale), bubbles sized by parameters."""
    fig = go.Figure()
    rated = [c for c in cards if c.top1 is not None and c.gflops and c.dataset == "ImageNet-1K"]
    for family in dict.fromkeys(c.family for c in rated):
        group = [c for c in rated if c.family == family]
        fig.add_trace(
            go.Scatter(
                x=[c.gflops for c in group],
                y=[c.top1 for c in group],
                mode="markers+text",
                name=family,
                text=[c.label for c in group],
                textposition="top center",
                cliponaxis=False,  # labels near the edges stay whole
                marker={
                    "size": [8 + 4 * (c.params / 1e6) ** 0.5 for c in group],
                    "color": FAMILY_COLOURS.get(family, "#7f7f7f"),
                    "opacity": 0.75,
                    "line": {"width": [4 if c.key == highlight else 0.5 for c in group], "color": "black"},
                },
                customdata=[[c.params / 1e6, c.file_mb or 0] for c in group],
                hovertemplate="<b>%{text}</b><br>top-1 %{y:.1f}%<br>%{x:.2f} GFLOPs<br>"
                "%{customdata[0]:.1f} M parameters<br>%{customdata[1]:.0f} MB<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis={"title": "GFLOPs per 224x224 image (log scale)", "type": "log"},
        yaxis={"title": "ImageNet top-1 accuracy (%)"},
        legend_title="Family",
        margin={"t": 30, "l": 10, "r": 10, "b": 10},
    )
    return styled(fig, height=480)


def topk_figure(result: Classification) -> go.Figure:
    """Horizontal bars of the top-k probabilities, the most probable on top."""
    top = list(reversed(result.top))
    fig = go.Figure(
        go.Bar(
            x=[p.probability * 100 for p in top],
            y=[safe_text.plotly(p.label) for p in top],
            orientation="h",
            text=[f"{p.probability:.1%}" for p in top],
            textposition="auto",
            textfont=FONT,
            marker_color="#1f77b4" if result.trained else "#9e9e9e",
        )
    )
    fig.update_layout(
        xaxis={"title": "probability (%)", "range": [0, 100]},
        margin={"t": 10, "l": 10, "r": 10, "b": 10},
    )
    return styled(fig, height=70 + 52 * len(top))
