"""Pictures and figures drawn once for every session that shows the same thing.

A rerun of a page redraws everything on it; when thirty students look at the same layer of
the same capture, the grid of maps, its PNG encoding and the Plotly figures are the same for
all of them. :func:`encoded` and :func:`value` keep them in bounded shared caches, keyed by the
object they are drawn from (a cached capture, classification or detection batch: identity,
through a token that is never reused) and the settings that change the drawing.

Pages pass the PNG bytes to ``st.image`` (Streamlit then stores them without encoding again)
and the figure to ``st.plotly_chart``; both treat them as read-only.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from PIL import Image

from core.config import limits
from core.features.capture import image_digest
from core.util.shared_cache import SharedCache
from core.viz.render import to_png

PICTURES = SharedCache("pictures", 8192, limits.SHARED_PICTURE_BYTES)
OBJECTS = SharedCache("figures and views", 2048, limits.SHARED_PICTURE_BYTES // 2)
_tokens: dict[int, int] = {}
_counter = itertools.count()
_lock = threading.Lock()


def token(owner: object) -> Hashable:
    """A key for ``owner``: itself when it is a hashable value, else a number never given to another object.

    The number lives as long as ``owner`` (a shared capture, classification or detection batch).
    """
    if isinstance(owner, str | int | float | tuple):
        return owner
    params = getattr(owner, "__dataclass_params__", None)
    if params is not None and params.frozen and params.eq:  # a value: equal values share their drawings
        try:
            hash(owner)
            return ("value", owner)
        except TypeError:  # it holds arrays or images: fall back to its identity
            pass
    with _lock:
        number = _tokens.get(id(owner))
        if number is None:
            number = _tokens[id(owner)] = next(_counter)
            weakref.finalize(owner, _tokens.pop, id(owner), None)  # runs before the id can be reused
        return ("object", number)


def digest(picture: np.ndarray | Image.Image) -> str:
    """A content hash of an array or image (shape, type and values): a key for what is drawn from it.

    An image's is :func:`core.features.capture.image_digest`, the key of its shared results too.
    """
    if isinstance(picture, Image.Image):
        return image_digest(picture)
    hasher = hashlib.blake2b(f"{picture.dtype}{picture.shape}".encode(), digest_size=16)
    hasher.update(np.ascontiguousarray(picture).tobytes())
    return hasher.hexdigest()


def encoded(owner: object, key: tuple, draw: Callable[[], np.ndarray | Image.Image], fmt: str = "auto") -> bytes:
    """``draw()`` encoded once per (``owner``, ``key``) for every session.

    ``fmt="auto"`` is what ``st.image`` would choose (JPEG at quality 90 without transparency,
    else PNG), so Streamlit stores the bytes as they are instead of decoding and encoding again.
    """
    return PICTURES.get((fmt, token(owner), *key), lambda: _encode(draw(), fmt))


def value(owner: object, key: tuple, draw: Callable[[], Any]) -> Any:
    """``draw()`` (a Plotly figure, a view), once per (``owner``, ``key``); shared: never modify it."""
    return OBJECTS.get(("value", token(owner), *key), draw)


def _encode(picture: np.ndarray | Image.Image, fmt: str) -> bytes:
    image = Image.fromarray(picture) if isinstance(picture, np.ndarray) else picture
    if fmt == "auto":
        fmt = "PNG" if image.mode in {"RGBA", "LA", "PA"} or "transparency" in image.info else "JPEG"
    if fmt == "PNG":
        return to_png(image)
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format=fmt, quality=90)
    return buffer.getvalue()
