"""Helpers every page uses: turning core errors into messages, and the shared selections."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator

import streamlit as st
from PIL import Image

from core import models, safe_text
from core.config import SESSION_IMAGE_BYTES, SESSION_IMAGES, offline_reason
from core.errors import ConvLensError, WeightsUnavailable
from core.io import image_nbytes, load_image, sample_images
from core.models import LoadedModel, get_model
from core.util import BoundedCache
from dashboard import state
from dashboard.sidebar import CAMERA_KEY, RANDOM, UPLOAD_KEY, default_sample

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
    return state.browser_id()  # the same id keeps this browser's uploads on the server


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


def image_from(stored: tuple[str, bytes] | None, missing: str) -> tuple[Image.Image, str] | None:
    """A kept (name, bytes) decoded, with its name as caption; None (after saying ``missing`` or why) otherwise."""
    if stored is None:
        st.info(missing, icon=":material/upload:")
        return None
    name, data = stored
    with user_errors("Reading the image"):
        return decode_image(data), name
    return None


def selected_image() -> tuple[Image.Image, str] | None:
    """The sidebar's image and its caption, or None (after showing why) when there is none."""
    source = st.session_state.get("sb_source")
    if source == "Upload":
        return image_from(state.kept(UPLOAD_KEY), "Upload an image in the sidebar, or switch to a sample image.")
    if source == "Camera":
        return image_from(state.kept(CAMERA_KEY), "Take a snapshot with the camera in the sidebar.")
    samples = sample_images()
    name = st.session_state.get("sb_sample") or default_sample()
    if name not in samples:
        name = default_sample()
    return decode_image(samples[name].read_bytes()), f"sample: {name}"


DOWNLOAD_ERROR = "ui_download_error"  # (model key, message): shown until the download works or another model is chosen


def _download(key: str) -> bool:
    """Download the weights of ``key`` with a progress bar; on failure keep the reason (it must survive the rerun)."""
    card = models.model_card(key)
    bar = st.progress(0.0, text=f"Downloading {card.weights_file}")

    def progress(done: int, total: int) -> None:
        if total:
            bar.progress(
                min(done / total, 1.0),
                text=f"Downloading {card.weights_file}: {done / 2**20:.0f} of {total / 2**20:.0f} MB",
            )

    try:
        get_model(key, pretrained=True, download=True, progress=progress)
    except Exception as exc:
        log.warning("Downloading the weights of %s failed: %s", key, exc)
        st.session_state[DOWNLOAD_ERROR] = (key, f"Downloading the weights failed: {exc}")
        return False
    finally:
        bar.empty()
    st.session_state.pop(DOWNLOAD_ERROR, None)
    return True


def _weights_missing(key: str, exc: WeightsUnavailable) -> None:
    """Why the weights are missing, whether a download can work here, and the ways out."""
    st.warning(safe_text.markdown(exc), icon=":material/cloud_off:")
    card = models.model_card(key)
    failed = st.session_state.get(DOWNLOAD_ERROR)
    if failed is not None and failed[0] == key:
        st.error(safe_text.markdown(failed[1]), icon=":material/error:")
    offline = offline_reason(card.weights_url)
    if offline is not None:
        st.info(
            f"No download is possible: {safe_text.markdown(offline)}. Use random weights, or bring the "
            "weights on a USB stick with the offline kit (`python -m core.kit`, then `CONVLENS_WEIGHTS_DIR`).",
            icon=":material/wifi_off:",
        )
    left, right = st.columns(2)
    if left.button(
        f"Download the weights ({card.file_mb or 0:.0f} MB)",
        key=f"dl_{key}",
        icon=":material/download:",
        disabled=offline is not None,
    ):
        _download(key)
        st.rerun()  # a failure is kept in the session and shown above the buttons
    right.button(
        "Use random weights (untrained)",
        key=f"rand_{key}",
        icon=":material/casino:",
        on_click=st.session_state.update,
        kwargs={"sb_weights": RANDOM},
    )


def selected_model() -> LoadedModel | None:
    """The sidebar's model, loaded; when its weights are missing, say so and offer the ways out."""
    key, pretrained = selected_model_key(), wants_pretrained()
    try:
        with st.spinner(f"Loading {models.model_card(key).label}..."):
            return get_model(key, pretrained=pretrained)
    except WeightsUnavailable as exc:
        _weights_missing(key, exc)
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
    session and on the server for this browser (a refresh finds them) until the user presses "Forget".
    """
    kept: dict[str, bytes] = dict(state.kept(f"{key}_kept", {}))
    version = st.session_state.get(f"{key}_version", 0)
    uploads = st.file_uploader(label, accept_multiple_files=True, key=f"{key}_{version}", **uploader_args) or []
    new = {upload.name: upload.getvalue() for upload in uploads}
    if any(kept.get(name) != data for name, data in new.items()):
        kept |= new
        state.keep(f"{key}_kept", kept)
    if kept:
        names = safe_text.markdown(", ".join(sorted(kept)))
        if st.button(f"Forget {len(kept)} uploaded file(s)", key=f"{key}_forget", icon=":material/delete:", help=names):
            state.forget(f"{key}_kept")
            st.session_state[f"{key}_version"] = version + 1  # a fresh, empty uploader
            st.rerun()
    return list(kept.items())
