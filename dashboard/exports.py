"""Honest, slide-ready pictures: "untrained" burnt in, downloads with title and facts, and the worksheet.

Pages call :func:`show` for a result picture (stamped when the weights are random), :func:`download`
for its slide-ready PNG, and every picture shown this way is remembered for the session's worksheet
(:func:`worksheet_button`, in the sidebar).
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image

from core import serving
from core.viz import Entry, Legend, slide, slide_png, stamp_untrained, to_png, worksheet_html

KEY = "ws_entries"
MAX_ENTRIES = 24  # a lesson's worth; the oldest go first


class Shown(NamedTuple):
    image: Image.Image
    title: str
    facts: tuple[str, ...]
    legend: Legend | None
    untrained: bool
    question: str


def honest(image: Image.Image | np.ndarray, untrained: bool) -> Image.Image | np.ndarray:
    """``image`` with a red "UNTRAINED" band when it was made with random weights (arrays become images)."""
    if not untrained:
        return image
    return stamp_untrained(Image.fromarray(image) if isinstance(image, np.ndarray) else image)


def shared(
    owner: object, key: tuple, draw: Callable[[], Image.Image | np.ndarray], untrained: bool
) -> tuple[Image.Image | np.ndarray, bytes]:
    """``draw()`` made once for every session showing the same (``owner``, ``key``), and its encoded, honest picture.

    The first is for downloads and the worksheet (shared: never modify it), the bytes for ``st.image``.
    """
    picture = serving.value(owner, ("picture", *key), draw)
    return picture, serving.encoded(owner, ("picture", *key, untrained), lambda: honest(picture, untrained))


def record(item: Shown) -> None:
    """Remember a picture for the worksheet (a picture with the same title replaces the older one)."""
    entries: OrderedDict[str, Shown] = st.session_state.setdefault(KEY, OrderedDict())
    entries.pop(item.title, None)
    entries[item.title] = item
    while len(entries) > MAX_ENTRIES:
        entries.popitem(last=False)


def download(item: Shown, file_name: str, key: str, label: str = "Slide (PNG)", where=st) -> None:
    """A download button for the slide-ready PNG of ``item`` (made only when pressed)."""
    where.download_button(
        label,
        functools.partial(
            slide_png, item.image, item.title, facts=item.facts, legend=item.legend, untrained=item.untrained
        ),
        file_name=file_name,
        mime="image/png",
        key=key,
        icon=":material/download:",
        on_click="ignore",
    )


def _worksheet(items: list[Shown]) -> str:
    """The worksheet's HTML (made when the button is pressed, outside the script run: no session state here)."""
    return worksheet_html(
        "What we saw with ConvLens",
        [
            Entry(
                i.title,
                " · ".join(i.facts),
                to_png(slide(i.image, i.title, i.facts, i.legend, i.untrained)),
                i.question,
            )
            for i in items
        ],
    )


def worksheet_button() -> None:
    """The sidebar's one-click worksheet of every picture shown in this session."""
    items = list((st.session_state.get(KEY) or {}).values())
    count = len(items)
    if not count:
        st.caption("The worksheet fills with the pictures you show.")
        return
    st.download_button(
        f"Worksheet of this session ({count} pictures)",
        functools.partial(_worksheet, items),
        file_name="convlens_worksheet.html",
        mime="text/html",
        key="sb_worksheet",
        icon=":material/description:",
        on_click="ignore",
        help="One HTML file with every picture shown (title, model, image and layer burnt in), to print or share.",
    )
