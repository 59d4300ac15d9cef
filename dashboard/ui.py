"""Helpers every page uses: turning core errors into messages, and the shared selections."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Callable, Iterator

import streamlit as st
from PIL import Image

from core import models, safe_text
from core.config import SESSION_IMAGE_BYTES, SESSION_IMAGES
from core.errors import ConvLensError, WeightsUnavailable
from core.io import image_nbytes, load_image, sample_images
from core.models import LoadedModel, get_model
from core.util import BoundedCache
from dashboard.sidebar import RANDOM, default_sample

log = logging.getLogger("convlens")


@contextlib.contextmanager
def user_errors(action: str = "That") -> Iterator[None]:
    """Show errors the user can fix as messages; log anything else with its traceback.

    The block stops at the error; the rest of the page keeps running.
    """
    try:
        yield
    except (ConvLensError, ValueError, TypeError) as exc:
        st.error(safe_text.markdown(exc), icon=":material/error:")
    except Exception as exc:
        log.exception("%s failed", action)
        st.error(
            f"{safe_text.markdown(action)} failed unexpectedly ({type(exc).__name__}). "
            "The details are in the server log; "
            "try again or choose other inputs.",
            icon=":material/error:",
        )


def session_token() -> str:
    """This browser session's secret: the runs it starts (on either lab page) are its own to cancel.

    Kept in the session and mirrored in the page's address (``?owner=``), so that a refresh of
    the same tab still owns its runs.
    """
    token = st.session_state.get("run_owner") or st.query_params.get("owner") or secrets.token_urlsafe(24)
    st.session_state["run_owner"] = token
    if st.query_params.get("owner") != token:
        st.query_params["owner"] = token
    return token


def teacher_token() -> str | None:
    """The teacher's token when the page was opened with ``?teacher=<CONVLENS_TEACHER_TOKEN>``."""
    return st.query_params.get("teacher")


RUN_ALERTS = {"done": st.success, "cancelled": st.warning, "stopped": st.warning, "interrupted": st.warning}


def run_state(status, text: str, can_cancel: bool, cancel: Callable[[], None], key: str) -> None:
    """A training run's progress and Cancel button (for its owner) while active, else its final message.

    ``status`` is a run status (``active``, ``progress``, ``state``, ``message``) from either lab.
    """
    if status.active:
        st.progress(min(max(status.progress, 0.0), 1.0), text=text)
        if can_cancel:
            st.button("Cancel the run", key=key, icon=":material/stop_circle:", on_click=cancel)
        else:
            st.caption("Started by another session: only it, or the teacher, can cancel this run.")
    elif status.message:
        RUN_ALERTS.get(status.state, st.error)(safe_text.markdown(status.message))


def selected_model_key() -> str:
    return st.session_state.get("sb_model") or models.default_key()


def wants_pretrained() -> bool:
    return st.session_state.get("sb_weights") != RANDOM


def decode_image(data: bytes) -> Image.Image:
    """The decoded image, cached in this browser session only: bounded by bytes, freed when the session ends.

    (A server-wide cache would keep every student's big photos after they leave.)
    """
    cache = st.session_state.get("ui_decoded")
    if cache is None:
        cache = BoundedCache(SESSION_IMAGES, SESSION_IMAGE_BYTES, image_nbytes)
        st.session_state["ui_decoded"] = cache
    return cache.get(hashlib.blake2b(data, digest_size=16).digest(), lambda: load_image(data))


def selected_image() -> tuple[Image.Image, str] | None:
    """The sidebar's image and its caption, or None (after showing why) when there is none."""
    if st.session_state.get("sb_source") == "Upload":
        stored = st.session_state.get("sb_upload_data")
        if stored is None:
            st.info("Upload an image in the sidebar, or switch to a sample image.", icon=":material/upload:")
            return None
        name, data = stored
        with user_errors("Reading the image"):
            return decode_image(data), name
        return None
    samples = sample_images()
    name = st.session_state.get("sb_sample") or default_sample()
    return decode_image(samples[name].read_bytes()), f"sample: {name}"


def _download(key: str) -> None:
    card = models.model_card(key)
    bar = st.progress(0.0, text=f"Downloading {card.weights_file}")

    def progress(done: int, total: int) -> None:
        if total:
            bar.progress(
                min(done / total, 1.0),
                text=f"Downloading {card.weights_file}: {done / 2**20:.0f} of {total / 2**20:.0f} MB",
            )

    with user_errors("Downloading weights"):
        get_model(key, pretrained=True, download=True, progress=progress)
    bar.empty()


def selected_model() -> LoadedModel | None:
    """The sidebar's model, loaded; when its weights are missing, say so and offer the ways out."""
    key, pretrained = selected_model_key(), wants_pretrained()
    try:
        with st.spinner(f"Loading {models.model_card(key).label}..."):
            return get_model(key, pretrained=pretrained)
    except WeightsUnavailable as exc:
        st.warning(str(exc), icon=":material/cloud_off:")
        left, right = st.columns(2)
        card = models.model_card(key)
        if left.button(
            f"Download the weights ({card.file_mb or 0:.0f} MB)", key=f"dl_{key}", icon=":material/download:"
        ):
            _download(key)
            st.rerun()
        right.button(
            "Use random weights (untrained)",
            key=f"rand_{key}",
            icon=":material/casino:",
            on_click=st.session_state.update,
            kwargs={"sb_weights": RANDOM},
        )
    except ConvLensError as exc:
        st.error(safe_text.markdown(exc), icon=":material/error:")
    return None


def untrained_badge(model: LoadedModel) -> None:
    """Say plainly when outputs come from random weights."""
    if not model.trained:
        st.warning(
            f"{model.card.label} has **random weights (untrained)**: its outputs show the architecture, "
            "not anything learned.",
            icon=":material/casino:",
        )


def kept_uploads(label: str, key: str, **uploader_args) -> list[tuple[str, bytes]]:
    """A multi-file uploader whose files survive page switches and reruns, as (name, bytes).

    Streamlit forgets a file uploader's files when its page is left; these are kept in the
    session until the user presses "Forget".
    """
    kept: dict[str, bytes] = st.session_state.setdefault(f"{key}_kept", {})
    version = st.session_state.get(f"{key}_version", 0)
    for upload in st.file_uploader(label, accept_multiple_files=True, key=f"{key}_{version}", **uploader_args) or []:
        kept[upload.name] = upload.getvalue()
    if kept:
        names = safe_text.markdown(", ".join(sorted(kept)))
        if st.button(f"Forget {len(kept)} uploaded file(s)", key=f"{key}_forget", icon=":material/delete:", help=names):
            kept.clear()
            st.session_state[f"{key}_version"] = version + 1  # a fresh, empty uploader
            st.rerun()
    return list(kept.items())
