"""Helpers for Streamlit AppTest page tests, started from the real entry file."""

from __future__ import annotations

import re
import string

from streamlit import config
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

ENTRY = str(ROOT / "dashboard" / "app.py")


def open_page(page: str, timeout: float = 120, **state) -> AppTest:
    """Run the app, switch to ``dashboard/app_pages/<page>.py`` and return the tester."""
    config.set_option("client.showErrorDetails", "full")  # the server hides details; tests want them
    at = AppTest.from_file(ENTRY, default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


_ESCAPED = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


def shown(values) -> str:
    """Markdown strings joined by spaces, with backslash escapes removed: the text the reader sees."""
    return _ESCAPED.sub(r"\1", " ".join(str(v) for v in values))


def texts(at: AppTest) -> str:
    """All markdown, captions, titles and alerts on the page, as one string, as the reader sees it.

    Backslash escapes are removed (user text is shown through ``core.safe_text.markdown``).
    """
    parts = [
        e.value
        for kind in ("markdown", "caption", "title", "subheader", "header", "info", "warning", "error", "success")
        for e in getattr(at, kind)
    ]
    return _ESCAPED.sub(r"\1", "\n".join(str(p) for p in parts))
