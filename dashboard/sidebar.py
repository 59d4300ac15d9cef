"""The shared sidebar: device, the classifier model and its weights, the image.

Drawn by the entry file on every page, so the choices follow the user from page to page.
Pages read them with :func:`dashboard.ui.selected_model` and :func:`dashboard.ui.selected_image`.
"""

from __future__ import annotations

import streamlit as st

from core import models
from core.config import describe
from core.io import sample_images

# Pages that do not use the shared classifier model and image (they have their own inputs).
OWN_INPUTS = {"detection"}
PRETRAINED, RANDOM = "Pretrained", "Random (untrained)"


@st.cache_resource
def _device_label() -> str:
    return describe().label


def default_sample() -> str:
    """A photo for ImageNet models; a generated shape when the app starts on the classroom model."""
    imagenet = models.model_card(models.default_key()).dataset == "ImageNet-1K"
    return "cat" if imagenet else "shape star"


def _keep(*keys: str) -> None:
    """Keep widget values while their widgets are not drawn (on pages with their own inputs)."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def render(page) -> None:
    """Draw the sidebar for ``page`` (an ``st.Page``)."""
    with st.sidebar:
        st.caption(f":material/memory: {_device_label()}")
        if page.url_path in OWN_INPUTS:
            _keep("sb_model", "sb_weights", "sb_source", "sb_sample")
            return
        st.selectbox(
            "Model",
            models.list_models(),
            key="sb_model",
            index=models.list_models().index(models.default_key()),
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
        st.segmented_control("Image", ["Sample", "Upload"], key="sb_source", default="Sample")
        if st.session_state.get("sb_source") == "Upload":
            upload = st.file_uploader(
                "Your image", type=None, key="sb_upload", help="JPEG, PNG, WebP, BMP, TIFF or GIF."
            )
            if upload is not None:  # keep the bytes: uploads do not survive page switches
                st.session_state["sb_upload_data"] = (upload.name, upload.getvalue())
        else:
            samples = list(sample_images())
            st.selectbox("Sample image", samples, key="sb_sample", index=samples.index(default_sample()))
