"""The transfer page's "why a frozen backbone works" section: the dataset's features in 2-D."""

from __future__ import annotations

import streamlit as st

from core.datasets import Dataset, load_dataset, thumbnail
from core.errors import WeightsUnavailable
from core.models import model_card
from core.transfer import PROJECTIONS, EmbeddingMap, backbone_map, embedding_figure
from dashboard import ui

SIZES = (96, 128, 160, 224)
PRETRAINED, RANDOM = "pretrained", "random"


@st.cache_resource(max_entries=8, show_spinner=False)
def _map(key: str, pretrained: bool, path: str, val_ratio: float, seed: int, size: int) -> EmbeddingMap:
    """One backbone's map, computed once per (model, weights, dataset, split, size) and shared read-only."""
    return backbone_map(key, pretrained, load_dataset(path, val_ratio, seed), size)


def _side(column, key: str, pretrained: bool, chosen: tuple[str, Dataset, float, int], size: int, method: str) -> None:
    path, dataset, ratio, seed = chosen
    label = model_card(key).label + (" · pretrained" if pretrained else " · random weights")
    with column, ui.user_errors("The embedding map"):
        try:
            with st.spinner(f"{label}: features of {len(dataset.train) + len(dataset.val)} images..."):
                m = _map(key, pretrained, path, ratio, seed, size)
        except WeightsUnavailable as exc:
            st.warning(f"{label}: {exc}", icon=":material/cloud_off:")
            return
        tag = PRETRAINED if pretrained else RANDOM
        event = st.plotly_chart(
            embedding_figure(m, method, label),
            width="stretch",
            key=f"tl_emb_{tag}",
            on_select="rerun",
            selection_mode="points",
        )
        st.metric(f"{m.k}-NN accuracy (val)", "-" if m.knn_accuracy is None else f"{m.knn_accuracy:.0%}")
        st.download_button(
            "Coordinates (CSV)",
            m.csv(dataset.root),
            f"embedding_{key}_{tag}.csv",
            "text/csv",
            key=f"tl_emb_csv_{tag}",
            icon=":material/download:",
        )
        points = event.selection.points if event and event.selection else []
        if points:
            index = int(points[0]["customdata"][2])
            path_ = m.features.paths[index]
            picture = thumbnail(path_, 200)
            if picture is not None:
                st.image(picture)
            st.text(f"{path_.relative_to(dataset.root)} · {m.features.classes[m.features.labels[index]]}")


def embedding_section(chosen: tuple[str, Dataset] | None) -> None:
    """Pretrained and random backbones side by side: does the frozen backbone already separate the classes?"""
    st.markdown(
        "Feature extraction trains only a new head on the frozen backbone's features. That works when those "
        "features already separate the classes. Here every image is one dot: its backbone features (the head's "
        "input) projected to 2-D, coloured by class. Compare a **pretrained** backbone with the same "
        "architecture's **random** weights; the **k-NN accuracy** counts val images whose 5 nearest training "
        "images (cosine) are mostly of their class; the linear probe is a logistic regression on the features."
    )
    if chosen is None:
        st.info("Choose a usable dataset above to map its features.", icon=":material/dataset:")
        return
    path, dataset = chosen
    key = ui.selected_model_key()
    left, right, _ = st.columns([1, 1, 2])
    size = left.selectbox("Image size", SIZES, index=1, key="tl_emb_size", help="Smaller is faster on a CPU.")
    method = right.segmented_control(
        "Projection", PROJECTIONS, key="tl_emb_method", default=PROJECTIONS[1], required=True
    )
    ratio, seed = st.session_state.get("tl_val_ratio", 0.2), int(st.session_state.get("tl_seed", 0))
    wanted = (key, path, ratio, seed, size)
    if st.button("Map the features (pretrained and random)", key="tl_emb_go", icon=":material/scatter_plot:"):
        st.session_state["tl_emb_for"] = wanted
    if st.session_state.get("tl_emb_for") != wanted:
        st.caption("Runs each backbone once over the dataset (about a minute for 400 photos on a CPU), then is cached.")
        return
    columns = st.columns(2)
    for column, pretrained in zip(columns, (True, False), strict=True):
        _side(column, key, pretrained, (path, dataset, ratio, seed), size, method)
    st.caption(
        "Dots: training images; diamonds: validation images. Click a dot to see its image. "
        "Random weights still give features (the architecture alone does something), but pretrained ones "
        "gather each class together: a linear head on top has little left to learn."
    )
