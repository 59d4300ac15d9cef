"""The embedding map as a Plotly scatter: one dot per image, coloured by class, named on hover.

Class and file names come from the user's dataset: they are HTML-escaped, so Plotly shows
them as text (its labels understand a few HTML tags).
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core import safe_text
from core.transfer.embedding import EmbeddingMap
from core.viz.theme import styled

PROJECTIONS = ("PCA", "t-SNE")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22")


def _score(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def scores_text(m: EmbeddingMap) -> str:
    """The separability figures in words, e.g. ``k-NN 93% · linear probe 95%``."""
    return f"{m.k}-NN {_score(m.knn_accuracy)} · linear probe {_score(m.probe_accuracy)}"


def embedding_figure(m: EmbeddingMap, method: str, title: str) -> go.Figure:
    """The map of ``method`` (:data:`PROJECTIONS`): train images as dots, val images as diamonds.

    Each point's ``customdata`` is (file name, split, index into the features), for hover and selection.
    """
    if method not in PROJECTIONS:
        raise ValueError(f"method must be one of {', '.join(PROJECTIONS)}, got {method!r}.")
    coords = m.pca if method == "PCA" else m.tsne
    f = m.features
    fig = go.Figure()
    for label, name in enumerate(f.classes):
        idx = np.flatnonzero(f.labels == label)
        custom = [[safe_text.plotly(f.paths[i].name), "val" if f.is_val[i] else "train", int(i)] for i in idx]
        fig.add_trace(
            go.Scatter(
                x=coords[idx, 0],
                y=coords[idx, 1],
                mode="markers",
                name=safe_text.plotly(name),
                marker={
                    "size": 10,
                    "color": PALETTE[label % len(PALETTE)],
                    "symbol": ["diamond" if f.is_val[i] else "circle" for i in idx],
                    "line": {"width": 0.5, "color": "white"},
                    "opacity": 0.85,
                },
                customdata=custom,
                hovertemplate=(
                    f"<b>{safe_text.plotly(name)}</b><br>%{{customdata[0]}} (%{{customdata[1]}})<extra></extra>"
                ),
            )
        )
    axes = ("PC 1", "PC 2") if method == "PCA" else ("t-SNE 1", "t-SNE 2")
    if method == "PCA":
        axes = tuple(f"{a} ({share:.0%} of variance)" for a, share in zip(axes, m.explained, strict=True))
    fig.update_layout(
        title={"text": f"{title}<br>{scores_text(m)} on val", "font": {"size": 18}},
        xaxis={"title": {"text": axes[0]}, "showticklabels": False, "zeroline": False},
        yaxis={"title": {"text": axes[1]}, "showticklabels": False, "zeroline": False},
        legend={"orientation": "h", "y": -0.12},
        margin={"t": 80, "l": 10, "r": 10, "b": 10},
        dragmode="select",
        clickmode="event+select",
    )
    return styled(fig, height=520)
