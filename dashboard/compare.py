"""Two models on the same image: the compare switch and the second model, for the zoo and Grad-CAM pages."""

from __future__ import annotations

import streamlit as st

from core import models
from core.errors import WeightsUnavailable
from core.models import LoadedModel, get_model
from dashboard import ui


def second_model(prefix: str) -> LoadedModel | None:
    """A "compare with a second model" switch; the second model when it is on (None when off).

    The second model gets the sidebar's weights when they are on this machine, else random weights,
    and says so.
    """
    if not st.toggle("Compare with a second model", key=f"{prefix}_compare"):
        return None
    first = ui.selected_model_key()
    keys = [k for k in models.list_models() if k != first]
    key = st.selectbox(
        "Second model",
        keys,
        key=f"{prefix}_compare_model",
        format_func=lambda k: models.model_card(k).label,
    )
    with ui.user_errors("Loading the second model"), st.spinner(f"Loading {models.model_card(key).label}..."):
        try:
            return get_model(key, pretrained=ui.wants_pretrained())
        except WeightsUnavailable:
            st.caption(f"No pretrained weights for {models.model_card(key).label} here: it runs with random weights.")
            return get_model(key, pretrained=False)
    return None
