"""The shared sidebar: device, the classifier model and its weights, the image (sample, upload or camera).

Drawn by the entry file on every page, so the choices follow the user from page to page.
Pages read them with :func:`dashboard.ui.selected_model` and :func:`dashboard.ui.selected_image`.
The choices live in :mod:`dashboard.state` (not in the widgets), so pages that do not draw
the sidebar (YOLO detection) leave them as they were, and a refresh or a shared link restores them.
"""

from __future__ import annotations

import streamlit as st

from core import models, safe_text
from core.config import describe
from core.io import sample_images
from dashboard import state
from dashboard.state import PRETRAINED, RANDOM, SOURCES, default_sample

# Pages that do not use the shared classifier model and image (they have their own inputs).
OWN_INPUTS = {"detection"}
UPLOAD_KEY, CAMERA_KEY = "sb_upload_data", "sb_camera_data"  # (name, bytes), kept on the server per browser

__all__ = ["CAMERA_KEY", "OWN_INPUTS", "PRETRAINED", "RANDOM", "UPLOAD_KEY", "default_sample", "render"]


@st.cache_resource
def _device_label() -> str:
    return describe().label


def _kept_file(key: str, what: str) -> None:
    """Name the file kept from an earlier upload or snapshot (the widget itself starts empty after a page switch)."""
    stored = state.kept(key)
    if stored is not None:
        st.caption(f"In use: {what + ' ' if what else ''}**{safe_text.markdown(stored[0])}**")


def _upload() -> None:
    upload = st.file_uploader("Your image", type=None, key="sb_upload", help="JPEG, PNG, WebP, BMP, TIFF or GIF.")
    if upload is not None and state.kept(UPLOAD_KEY, (None, None))[1] != upload.getvalue():
        state.keep(UPLOAD_KEY, (upload.name, upload.getvalue()))
    _kept_file(UPLOAD_KEY, "uploaded")


def _camera() -> None:
    shot = st.camera_input("Take a snapshot", key="sb_camera", help="Your browser asks once for the camera.")
    if shot is not None and state.kept(CAMERA_KEY, (None, None))[1] != shot.getvalue():
        state.keep(CAMERA_KEY, ("camera snapshot", shot.getvalue()))
    _kept_file(CAMERA_KEY, "")


def render(page) -> None:
    """Draw the sidebar for ``page`` (an ``st.Page``)."""
    with st.sidebar:
        st.caption(f":material/memory: {_device_label()}")
        if page.url_path in OWN_INPUTS:
            return
        options = models.list_models()
        st.selectbox(
            "Model",
            options,
            key="sb_model",
            index=options.index(models.default_key()),
            format_func=lambda key: models.model_card(key).label,
        )
        st.segmented_control(
            "Weights",
            [PRETRAINED, RANDOM],
            key="sb_weights",
            default=PRETRAINED,
            help="Random weights show the architecture before any learning: "
            "everything they output is labelled untrained.",
        )
        st.segmented_control("Image", list(SOURCES), key="sb_source", default="Sample")
        source = st.session_state.get("sb_source")
        if source == "Upload":
            _upload()
        elif source == "Camera":
            _camera()
        else:
            samples = list(sample_images())
            st.selectbox("Sample image", samples, key="sb_sample", index=samples.index(default_sample()))
