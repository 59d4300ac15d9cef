"""Plotly figures for the transfer-learning lab: one colour per strategy, everywhere.

Training curves put every strategy on the same axes (validation solid, training dotted);
confusion matrices are shaded in their strategy's colour.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core import safe_text
from core.datasets.folders import Dataset
from core.transfer.records import StrategyRecord
from core.transfer.strategies import STRATEGIES
from core.viz.theme import FONT, styled

STRATEGY_COLOURS = {"feature_extraction": "#1f77b4", "fine_tuning": "#ff7f0e", "scratch": "#7f7f7f"}
SPLIT_COLOURS = {"train": "#4c72b0", "val": "#dd8452"}


def curves_figure(strategies: dict[str, StrategyRecord], epochs: int, pretrained: bool = True) -> go.Figure:
    """Loss and accuracy per epoch of every strategy: validation solid, training dotted.

    A run that started from random weights says so in the figure's title (kept in its PNG export).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Loss (lower is better)", "Accuracy (%)"))
    for key, record in strategies.items():
        colour, label = STRATEGY_COLOURS[key], STRATEGIES[key].label
        x = [m.epoch for m in record.history]
        for split, dash in (("val", "solid"), ("train", "dot")):
            for col, metric, scale in ((1, "loss", 1), (2, "acc", 100)):
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=[getattr(m, f"{split}_{metric}") * scale for m in record.history],
                        mode="lines+markers",
                        name=f"{label} ({split})",
                        legendgroup=key,
                        showlegend=col == 1,
                        line={"color": colour, "dash": dash, "width": 3 if split == "val" else 2},
                        marker={"size": 7 if split == "val" else 4},
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="epoch", range=[0.5, epochs + 0.5], dtick=max(1, epochs // 10))
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 101], row=1, col=2)
    styled(fig, height=400)
    fig.update_annotations(font=FONT)  # the panels' titles
    fig.update_layout(
        # the legend at the figure's foot, below the axes' ticks and titles whatever the theme does to them
        margin={"t": 40 if pretrained else 80, "l": 10, "r": 10, "b": 125},
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0},
    )
    if not pretrained:
        fig.update_layout(
            title={"text": "UNTRAINED start: random weights, nothing transferred", "font": {"color": "#b41414"}}
        )
    return fig


def confusion_figure(matrix: np.ndarray, classes: tuple[str, ...], strategy: str) -> go.Figure:
    """A confusion matrix with counts, shaded from white to the strategy's colour."""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=safe_text.plotly_all(classes),
            y=safe_text.plotly_all(classes),
            text=matrix,
            texttemplate="%{text}",
            colorscale=[[0, "#ffffff"], [1, STRATEGY_COLOURS[strategy]]],
            showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": STRATEGIES[strategy].label, "font": {"color": STRATEGY_COLOURS[strategy]}},
        xaxis={"title": "predicted", "side": "bottom"},
        yaxis={"title": "true", "autorange": "reversed"},
        margin={"t": 50, "l": 10, "r": 10, "b": 10},
    )
    return styled(fig, height=150 + 45 * len(classes))


def class_counts_figure(dataset: Dataset) -> go.Figure:
    """Images per class in each split, as grouped bars."""
    fig = go.Figure(
        [
            go.Bar(
                x=safe_text.plotly_all(dataset.classes),
                y=list(dataset.counts(split)),
                name=name,
                marker_color=SPLIT_COLOURS[split],
                text=list(dataset.counts(split)),
                textposition="auto",
            )
            for split, name in (("train", "training"), ("val", "validation"))
        ]
    )
    fig.update_layout(
        barmode="group",
        yaxis={"title": "images"},
        margin={"t": 10, "l": 10, "r": 10, "b": 10},
    )
    styled(fig, height=320)
    return fig.update_layout(legend={"orientation": "h", "y": 1.1})
