"""Presenter mode and the page style: readable captions, large type, one column, the picture first.

The switch lives in the sidebar (``sb_presenter``); pages ask :func:`split` for where controls and
pictures go, and call :func:`notice` under their main picture.
"""

from __future__ import annotations

import streamlit as st

from core.config import notice as notice_text

KEY = "sb_presenter"

# Captions in Streamlit's default grey at 60 % opacity reach about 3.9:1 on white; #3d3d3d reaches 10.6:1.
_BASE_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding: 1.2rem 2rem 2rem 2rem; }
[data-testid="stCaptionContainer"], [data-testid="stImageCaption"], [data-testid="stWidgetLabel"] p,
[data-testid="stMetricLabel"] p { color: #3d3d3d !important; opacity: 1 !important; }
h1 { padding-top: 0 !important; }
[data-testid="stMetricValue"] div { overflow: visible !important; text-overflow: clip !important; }
.cl-notice { font-size: 1.15rem; color: #111; border-left: 5px solid #1f77b4; padding: .2rem .6rem; margin: .3rem 0; }
</style>
"""
_PRESENTER_CSS = """
<style>
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label p { font-size: 1.35rem !important; }
[data-testid="stMain"] [data-testid="stCaptionContainer"] p,
[data-testid="stMain"] [data-testid="stImageCaption"] { font-size: 1.25rem !important; }
[data-testid="stMainBlockContainer"] { max-width: 100%; }
.cl-notice { font-size: 1.6rem; }
</style>
"""


def on() -> bool:
    return bool(st.session_state.get(KEY))


def toggle() -> None:
    """The sidebar switch."""
    st.toggle(
        "Presenter mode",
        key=KEY,
        help="Large type, one column, the picture first, and a 'what to notice' line under each picture.",
    )


def apply_style() -> None:
    """The style every page gets, plus large type in presenter mode."""
    st.html(_BASE_CSS + (_PRESENTER_CSS if on() else ""))


def split(ratio: tuple[int, int] = (2, 3)):
    """(controls, picture) containers: the picture on the left, the controls on its right (widths ``ratio``);
    in presenter mode one column, the picture first and the controls under it."""
    if on():
        picture = st.container()
        return st.container(), picture
    picture, controls = st.columns(ratio)
    return controls, picture


def notice(page: str, view: str) -> None:
    """The 'what to notice' line under a picture (presenter mode only)."""
    if on():
        st.html(f"<div class='cl-notice'>{notice_text(page, view)}</div>")
