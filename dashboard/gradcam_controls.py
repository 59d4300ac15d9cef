"""The Grad-CAM page's pickers: the class to explain, the layer, and the methods' settings."""

import streamlit as st

from core import explain
from core.explain import Options
from core.models import Classification, LoadedModel
from dashboard import state


def pick_target(model: LoadedModel, result: Classification) -> int:
    """The class to explain: one of the top-5 (the prediction by default) or any class by name."""
    mode = st.segmented_control(
        "Explain the class", ["Top-5", "Any class"], default="Top-5", required=True, key="gc_target_mode"
    )
    if mode == "Any class":
        names = model.categories
        if st.session_state.get("gc_class") not in range(len(names)):  # another model, or a bad link
            state.clear("gc_class")
        return st.selectbox(
            "Search a class by name",
            range(len(names)),
            index=result.top[0].index,
            format_func=lambda i: f"{names[i]} ({i})",
            key="gc_class",
        )
    top = {p.index: p for p in result.top}
    return st.radio(
        "Top-5 predictions",
        list(top),
        format_func=lambda i: f"{top[i].label} · {top[i].probability:.1%}",
        key=f"gc_top_{model.key}_{'_'.join(map(str, top))}",
    )


def pick_layer(model: LoadedModel) -> str:
    """The layer Grad-CAM looks at: the last conv block by default, or any convolution."""
    choices = explain.layer_choices(model.key)

    def label(name: str) -> str:
        shape = "×".join(map(str, choices.shapes[name]))
        return f"{name} · last conv block · {shape}" if name == choices.default else f"{name} · {shape}"

    return st.selectbox(
        "Layer",
        [choices.default, *(c for c in choices.convs if c != choices.default)],
        format_func=label,
        key=f"gc_layer_{model.key}",
        help="Grad-CAM looks at this layer's feature maps (channels x height x width). "
        "The default, the last convolutional block, is where the features are most about classes.",
    )


def options() -> Options:
    """Method settings, read from their widgets (drawn only for the methods that use them)."""
    defaults = Options()
    return Options(
        steps=st.session_state.get("gc_steps", defaults.steps),
        batch_size=st.session_state.get("gc_batch", defaults.batch_size),
        window=st.session_state.get("gc_window", defaults.window),
        stride=st.session_state.get("gc_stride", defaults.stride),
    )


def option_widgets(key: str, side: int) -> None:
    """The chosen method's settings (only the methods that have some draw any)."""
    defaults = Options()
    cols = st.columns(2)
    if key == "integrated_gradients":
        cols[0].slider("Steps along the path", 8, 128, defaults.steps, 8, key="gc_steps")
    if key == "occlusion":
        cols[0].slider("Square (pixels)", 8, side // 2, defaults.window, 4, key="gc_window")
        cols[1].slider("Step (pixels)", 4, side // 4, defaults.stride, 4, key="gc_stride")
    if key in {"integrated_gradients", "occlusion"}:
        st.slider("Images per batch", 1, 16, defaults.batch_size, key="gc_batch", help="Bounds memory: more is faster.")
