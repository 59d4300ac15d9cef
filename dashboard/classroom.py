"""What a teacher adds to every page: the presenter switch, the lesson player and the worksheet (sidebar)."""

from __future__ import annotations

import streamlit as st

from dashboard import exports, lesson_player, presenter


def before_sidebar() -> None:
    """Settings a lesson step asked for, applied before the sidebar draws its widgets."""
    lesson_player.apply_pending()


def render() -> None:
    """Draw the classroom tools at the bottom of the sidebar and apply the page style."""
    presenter.apply_style()
    with st.sidebar:
        st.divider()
        presenter.toggle()
        lesson_player.render()
        exports.worksheet_button()
