"""The app's settings: kept in a session-state dict that no widget owns, mirrored in the URL.

Streamlit forgets a widget's value when a run does not draw it (a page switch), and a browser
refresh starts a new session. So every setting listed in :func:`params` lives in
``st.session_state[STORE]``: at the start of each run :func:`sync` copies what the widgets
say into it, gives widgets that were not drawn last run their value back, and writes the
settings that differ from their defaults into the URL's query parameters. (Widget values are set
anew on every run: a value Streamlit kept from an earlier run is not sent to the browser, which
would then show the widget's default beside the value the script uses.) Opening such a URL
(a refresh, or a link a teacher shares) restores the view; a bad value in it is ignored
with a message. Widgets inside fragments call :func:`changed` on change, so that the URL
follows them at once.

Uploads and edits live on the server under a per-browser id kept in the URL (``?owner=``,
the token that also owns training runs), bounded and expiring (``core.util.BrowserStore``).
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path

import streamlit as st

from core import models, safe_text
from core.config import EPOCHS, Param, decode, encode, get_settings
from core.io import sample_images
from core.util import BrowserStore
from core.viz import COLORMAPS

STORE = "_settings"  # {session key: value}; no widget has this key
NOTES = "_link_notes"
PRETRAINED, RANDOM = "Pretrained", "Random (untrained)"
SOURCES = ("Sample", "Upload", "Camera")
OWNER_KEY, OWNER_PARAM = "run_owner", "owner"  # the lab pages' run token doubles as the browser id
# Keys a page reset leaves alone: the browser id, uploads kept on the server, the uploaders' versions.
KEEP_ON_RESET = (OWNER_KEY,)
UPLOADS = ("_kept", "_version", "_data")  # endings of the keys of uploaded files and their uploaders


# Settings kept across pages in this session but left out of links (lists, or too long for a URL).
SESSION_ONLY = (
    "det_samples_coco",
    "det_samples_shapes",
    "det_model",
    "det_camera_on",
    "fm_size",
    "fm_strip_image",
    "fm_kview",
    "fm_knorm",
    "gc_steps",
    "gc_window",
    "gc_stride",
    "gc_batch",
    "tl_dataset",
    "tl_val_ratio",
    "tl_seed",
    "tl_strategies",
    "tl_size",
    "tl_batch",
    "tl_lr",
    "tl_factor",
    "tl_depth",
    "tl_augment",
)


def default_sample() -> str:
    """A photo for ImageNet models; a generated shape when the app starts on the classroom model."""
    imagenet = models.model_card(models.default_key()).dataset == "ImageNet-1K"
    return "cat" if imagenet else "shape star"


def _explain_methods() -> list[str]:
    from core import explain  # loads Captum: only when a link names a method

    return list(explain.METHODS)


@functools.cache
def params() -> tuple[Param, ...]:
    """Every setting a link carries, page by page (the session key's prefix names the page)."""
    return (
        Param("model", "sb_model", default=models.default_key, choices=models.list_models),
        Param(
            "weights",
            "sb_weights",
            default=PRETRAINED,
            choices=(PRETRAINED, RANDOM),
            aliases={"pretrained": PRETRAINED, "random": RANDOM},
        ),
        Param("image", "sb_source", default="Sample", choices=SOURCES, aliases={s.lower(): s for s in SOURCES}),
        Param("sample", "sb_sample", default=default_sample, choices=lambda: list(sample_images())),
        Param("cmap", "fm_cmap", default=COLORMAPS[0], choices=COLORMAPS),
        Param(
            "norm",
            "fm_norm",
            default="per channel",
            choices=("per channel", "shared"),
            aliases={"channel": "per channel"},
        ),
        Param(
            "order",
            "fm_order",
            default="channel order",
            choices=("channel order", "most active first"),
            aliases={"channels": "channel order", "strongest": "most active first"},
        ),
        Param("layer", "fm_layer"),
        Param("channel", "fm_channel", kind=int, low=0, high=100_000),
        Param("view", "gc_view", default="map", choices=("map", "top3", "depth", "sanity")),
        Param(
            "target",
            "gc_target_mode",
            default="Top-5",
            choices=("Top-5", "Any class"),
            aliases={"top5": "Top-5", "any": "Any class"},
        ),
        Param("class", "gc_class", kind=int, low=0, high=100_000),
        Param("method", "gc_method", default="grad_cam", choices=_explain_methods),
        Param("gc_cmap", "gc_cmap", default="jet", choices=COLORMAPS),
        Param("opacity", "gc_alpha", kind=float, default=0.5, low=0.0, high=1.0),
        Param("own_scales", "gc_own_scale", kind=bool, default=False),
        Param("epochs", "tl_epochs", kind=int, default=5, low=1, high=int(EPOCHS.value)),
        Param("conf", "det_conf", kind=float, default=0.25, low=0.01, high=1.0),
        Param("nms", "det_nms", kind=float, default=0.7, low=0.1, high=1.0),
        Param("iou", "det_iou", kind=float, default=0.5, low=0.5, high=0.95),
        Param("det_image", "det_image", kind=int, default=0, low=0, high=1000),
        Param("shipped", "det_shipped", kind=bool, default=True),
    )


def _store() -> dict[str, object]:
    return st.session_state[STORE]


def sync() -> None:
    """Start of every run: settings from the URL (first run), widgets -> store -> missing widgets, store -> URL."""
    state = st.session_state
    if STORE not in state:  # a new browser session: a refresh or an opened link
        found = decode(st.query_params.to_dict(), params())
        state[STORE] = dict(found.values)
        state[NOTES] = found.problems
        for key, value in found.values.items():
            state[key] = value
    store = _store()
    for key in [p.key for p in params()] + list(SESSION_ONLY):
        if key in state:  # what the widget says (the user may just have changed it)
            store[key] = state[key]
        if key in store:  # set anew on every run, so the browser shows it even on a page it left
            state[key] = store[key]
    _write_url()


def changed() -> None:
    """``on_change`` of widgets inside fragments: store their values and update the URL now."""
    store = _store()
    for param in params():
        if param.key in st.session_state:
            store[param.key] = st.session_state[param.key]
    _write_url()


def _write_url() -> None:
    names = {p.name for p in params()}
    current = st.query_params.to_dict()
    wanted = {k: v for k, v in current.items() if k not in names} | encode(_store(), params())
    if wanted != current:
        st.query_params.from_dict(wanted)


def share_link() -> None:
    """The link to this view, for students' screens: the settings only, never this browser's id."""
    import urllib.parse

    base = (st.context.url or "").split("?", 1)[0]
    query = urllib.parse.urlencode(encode(_store(), params()))
    with st.expander("Share this view", icon=":material/link:"):
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)
        st.caption("Opens this page with these settings. Your uploads and runs stay yours.")


def clear(*keys: str) -> None:
    """Forget settings (a new layer starts on its own strongest channel): from the widgets and the store."""
    for key in keys:
        st.session_state.pop(key, None)
        _store().pop(key, None)


def keep_valid(key: str, options, default) -> None:
    """Reset a widget's stored value to ``default`` when it is not among its ``options`` (after a model change)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def link_notes() -> None:
    """Say which values of an opened link were ignored (as text: the link is anyone's)."""
    for note in st.session_state.pop(NOTES, ()):
        st.warning(f"This link's {safe_text.markdown(note)}", icon=":material/link_off:")


def _reset(prefix: str) -> None:
    store, registered = _store(), {p.key: p for p in params()}
    for key in [k for k in SESSION_ONLY if k.startswith(prefix)]:
        store.pop(key, None)
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix)]:
        if key not in KEEP_ON_RESET and not key.endswith(UPLOADS) and key not in registered:
            del st.session_state[key]  # the page sets its own start values (layer, channel, size)
    for key, param in registered.items():
        if key.startswith(prefix):
            store.pop(key, None)
            default = param.default_value()
            if default is None:
                st.session_state.pop(key, None)
            else:  # set, not deleted: the browser is sent the default (a deleted key keeps its old display)
                st.session_state[key] = default
    token = st.session_state.get(OWNER_KEY)
    if token:  # edits kept on the server for a refresh (the ground-truth table) go too
        for name in _browser_store().names(token):
            if name.startswith(prefix) and not name.endswith(UPLOADS):
                _browser_store().drop(token, name)
    _write_url()


def reset_button(prefix: str, label: str = "Reset this page") -> None:
    """A visible button that puts the page's settings (session keys starting with ``prefix``) back to defaults.

    Uploaded files are kept: their own "Forget" buttons remove them.
    """
    st.button(
        label,
        key=f"{prefix}reset",
        icon=":material/restart_alt:",
        on_click=_reset,
        args=(prefix,),
        help="Back to this page's defaults (your uploaded files stay).",
    )


# --- per-browser data on the server -------------------------------------------------------------


@st.cache_resource(max_entries=4)
def _browser_store_in(folder: str) -> BrowserStore:
    return BrowserStore(Path(folder))


def _browser_store() -> BrowserStore:
    """The server's per-browser store, kept under the app's home folder so that a restart finds it."""
    return _browser_store_in(str(get_settings().home / "browsers"))


def browser_id() -> str:
    """This browser's secret id, kept in the session and in the URL (``?owner=``), so a refresh keeps it."""
    token = st.session_state.get(OWNER_KEY) or st.query_params.get(OWNER_PARAM) or secrets.token_urlsafe(24)
    st.session_state[OWNER_KEY] = token
    if st.query_params.get(OWNER_PARAM) != token:
        st.query_params[OWNER_PARAM] = token
    return token


def keep(name: str, value: object) -> None:
    """Keep ``value`` in the session and on the server for this browser (a refresh finds it again)."""
    st.session_state[name] = value
    if not _browser_store().put(browser_id(), name, value):
        st.caption("Too large to keep across a refresh: it stays for this session only.")


def kept(name: str, default: object = None) -> object:
    """What :func:`keep` kept under ``name``: from the session, else from the server (after a refresh)."""
    if name in st.session_state:
        return st.session_state[name]
    token = st.session_state.get(OWNER_KEY) or st.query_params.get(OWNER_PARAM)
    value = _browser_store().get(token, name) if token else None
    if value is None:
        return default
    st.session_state[name] = value
    return value


def forget(name: str) -> None:
    """Remove what :func:`keep` kept under ``name``."""
    st.session_state.pop(name, None)
    token = st.session_state.get(OWNER_KEY)
    if token:
        _browser_store().drop(token, name)
