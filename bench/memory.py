"""Server memory when one student uploads many big photos, then leaves: ``python -m bench.memory``.

The scenario of issue #19: one session shows N distinct photos of M megapixels in turn on the
model-zoo page (decoded, classified), then the session ends. The process's resident memory
(RSS) is sampled every 20 ms: at the start (app warm), the peak, and after the session is gone.
Ours: decoded images cached per session, bounded by bytes (:mod:`core.util.bounded_cache`).
Peer, in the same run: the cache this replaced, ``st.cache_data(max_entries=32)`` shared by the
whole server. ``--images`` and ``--megapixels`` scale it down for a quick look.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import io
import threading
from collections.abc import Callable

import numpy as np
import psutil
import streamlit as st
from PIL import Image

from bench.common import Row, table
from core.io import images
from dashboard import ui
from tests.apptest import open_page

MB = 2**20


def _photos(count: int, megapixels: float) -> list[bytes]:
    """``count`` distinct, smooth JPEG photos (a few MB each, like a phone's)."""
    width = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    height = int(width * 3 / 4)
    found = []
    for seed in range(count):
        small = np.random.default_rng(seed).integers(0, 255, (12, 16, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(small).resize((width, height), Image.BILINEAR).save(buffer, "JPEG", quality=85)
        found.append(buffer.getvalue())
    return found


def _rss() -> float:
    return psutil.Process().memory_info().rss / MB


def _settle() -> float:
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # give freed heap pages back: RSS shows what is held
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return _rss()


class _Peak:
    def __init__(self) -> None:
        self.value, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            self.value = max(self.value, _rss())

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.value, _rss())


def session(photos: list[bytes], decode: Callable[[bytes], Image.Image]) -> tuple[float, float, float]:
    """(start, peak, end) RSS in MB for one session showing ``photos`` with ``decode`` as the page's decoder."""
    original = ui.decode_image
    ui.decode_image = decode
    try:
        at = open_page("zoo", sb_source="Upload")
        start = _settle()
        peak = _Peak()
        for index, data in enumerate(photos):
            at.session_state["sb_upload_data"] = (f"photo{index}.jpg", data)
            at.run()
            assert not at.exception and not at.error, [e.value for e in at.error]
        top = peak.stop()
        del at  # the browser tab is closed: its session and session state go
        return start, top, _settle()
    finally:
        ui.decode_image = original


def rows(count: int = 32, megapixels: float = 40.0) -> list[Row]:
    photos = _photos(count, megapixels)
    ours = session(photos, ui.decode_image)
    peer = session(photos, st.cache_data(max_entries=32, show_spinner=False)(images.load_image))
    st.cache_data.clear()
    what = f"{count} photos of {megapixels:g} MP, one session"
    return [
        Row(f"{what}: RSS at start", ours[0], "server-wide st.cache_data", peer[0], "-", "MB"),
        Row(f"{what}: peak RSS", ours[1], "server-wide st.cache_data", peer[1], "bounded", "MB"),
        Row(f"{what}: RSS after the session ended", ours[2], "server-wide st.cache_data", peer[2], "≈ start", "MB"),
        Row(
            f"{what}: held after it ended",
            ours[2] - ours[0],
            "server-wide st.cache_data",
            peer[2] - peer[0],
            "≈ 0",
            "MB",
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--megapixels", type=float, default=40.0)
    args = parser.parse_args()
    print(table(rows(args.images, args.megapixels)))
