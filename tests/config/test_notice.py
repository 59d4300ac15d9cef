"""Presenter mode's 'what to notice' lines: one per page view, short enough for one line."""

import pytest

from core.config import NOTICE, notice


def test_every_line_is_short_and_unknown_views_are_named() -> None:
    assert all(len(text) <= 110 for text in NOTICE.values())
    assert notice("gradcam", "map").startswith("Notice")
    with pytest.raises(ValueError, match="no 'what to notice' text for zoo/nothing; known: zoo/predictions"):
        notice("zoo", "nothing")
