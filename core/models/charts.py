"""Plotly figures for the model zoo: the accuracy-versus-cost chart and top-k bars."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from core import safe_text
from core.models.cards import ModelCard
from core.models.classification import Classification
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
    positions = label_positions([(c.key, c.gflops or 1.0, c.top1 or 0.0, c.label) for c in rated])
    for family in dict.fromkeys(c.family for c in rated):
        group = [c for c in rated if c.family == family]
        fig.add_trace(
            go.Scatter(
                x=[c.gflops for c in group],
                y=[c.top1 for c in group],
                mode="markers+text",
                name=family,
                text=[c.label for c in group],
                textposition=[positions[c.key] for c in group],
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


LABEL_PLACES = (
    "top center",
    "bottom center",
    "middle right",
    "middle left",
    "top right",
    "top left",
    "bottom right",
    "bottom left",
)
_CHAR_DECADES, _TEXT_POINTS = 0.03, 1.8  # one character's width in log10 GFLOPs, a line's height in accuracy points


def label_box(place: str, x: float, y: float, text: str) -> tuple[float, float, float, float]:
    """The rectangle (left, bottom, right, top) a label takes, in (log10 GFLOPs, accuracy) units."""
    lx, width = math.log10(x), len(text) * _CHAR_DECADES
    vertical, horizontal = place.split()
    if horizontal in ("right", "left") and vertical != "middle":  # beside the bubble, above or below it
        left = lx + 0.02 if horizontal == "right" else lx - 0.02 - width
        low = y + 0.6 if vertical == "top" else y - 0.6 - _TEXT_POINTS
        return left, low, left + width, low + _TEXT_POINTS
    if place == "top center":
        return lx - width / 2, y + 1.0, lx + width / 2, y + 1.0 + _TEXT_POINTS
    if place == "bottom center":
        return lx - width / 2, y - 1.0 - _TEXT_POINTS, lx + width / 2, y - 1.0
    if place == "middle right":
        return lx + 0.06, y - _TEXT_POINTS / 2, lx + 0.06 + width, y + _TEXT_POINTS / 2
    return lx - 0.06 - width, y - _TEXT_POINTS / 2, lx - 0.06, y + _TEXT_POINTS / 2


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def label_positions(points: list[tuple[str, float, float, str]]) -> dict[str, str]:
    """A text position per (key, gflops, top-1, label) so that no label covers another label or a bubble.

    Points are placed from left to right; each takes the first place whose box is free (the top when none is).
    """
    dots = [(math.log10(x) - 0.02, y - 0.6, math.log10(x) + 0.02, y + 0.6) for _, x, y, _ in points]
    taken: list[tuple[float, ...]] = []
    positions = {}
    for key, x, y, text in sorted(points, key=lambda p: p[1]):
        own = (math.log10(x) - 0.02, y - 0.6, math.log10(x) + 0.02, y + 0.6)
        others = [d for d in dots if d != own]
        place = next(
            (p for p in LABEL_PLACES if not any(_overlap(label_box(p, x, y, text), box) for box in taken + others)),
            LABEL_PLACES[0],
        )
        taken.append(label_box(place, x, y, text))
        positions[key] = place
    return positions


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
        margin={"t": 10 if result.trained else 50, "l": 10, "r": 10, "b": 10},
    )
    if not result.trained:  # burnt into the chart (and its PNG export), not only a banner
        fig.update_layout(title={"text": "UNTRAINED: random weights", "font": {"size": 20, "color": "#b41414"}})
    return styled(fig, height=(70 if result.trained else 110) + 52 * len(top))
