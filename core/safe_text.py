"""User-supplied strings (file names, class names, label text) made inert for each place they are shown.

One helper per medium, all here: Markdown (Streamlit's ``st.markdown``, captions, alerts),
Plotly labels (which render a subset of HTML, links included) and CSV cells (which a
spreadsheet may run as formulas). Pages and charts pass every user string through them.
"""

from __future__ import annotations

import html
import re
import string

_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def markdown(text: object) -> str:
    """``text`` as Markdown that shows exactly these characters: no links, images, HTML or styling.

    Every ASCII punctuation character is backslash-escaped (CommonMark allows it for all of
    them), and newlines become spaces so that a name cannot start a heading or a list.
    """
    flat = re.sub(r"[\r\n]+", " ", str(text))
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def plotly(text: object) -> str:
    """``text`` for a Plotly label, tick or hover text: its HTML tags (``<a href>``...) shown, not run."""
    return html.escape(str(text), quote=False)


def plotly_all(texts: object) -> list[str]:
    """:func:`plotly` applied to every item of an iterable."""
    return [plotly(t) for t in texts]  # type: ignore[union-attr]


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text (OWASP CSV injection: quote formula starts).

    Numbers are kept as they are; strings starting with ``= + - @``, a tab or a carriage return
    get a leading single quote, and line breaks become spaces (a bare CR would split the row).
    """
    if not isinstance(value, str):
        return value
    quoted = "'" + value if value.startswith(_FORMULA_START) else value
    return re.sub(r"[\r\n]+", " ", quoted)
