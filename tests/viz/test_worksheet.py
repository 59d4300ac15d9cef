"""The worksheet: self-contained HTML, pictures as base64, every user string escaped."""

import base64
import re
from datetime import datetime
from html.parser import HTMLParser

import pytest

from core.viz import Entry, worksheet_html


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)

    def handle_data(self, data) -> None:
        self.text.append(data)


def test_pictures_are_embedded_and_user_strings_stay_text() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    hostile = "<script>alert(1)</script> & 'quotes'"
    html = worksheet_html(
        "Our lesson",
        [Entry(hostile, "image: <img src=x onerror=alert(1)>", png, "Why <b>here</b>?"), Entry("two", "c", png)],
        when=datetime(2026, 1, 2, 3, 4),
    )
    parser = _Collect()
    parser.feed(html)
    assert "script" not in parser.tags and parser.tags.count("img") == 2 and "b" not in parser.tags
    assert hostile in "".join(parser.text) and "Why <b>here</b>?" in "".join(parser.text)
    embedded = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    assert [base64.b64decode(e) for e in embedded] == [png, png]
    assert "2026-01-02 03:04" in html and "http" not in html


def test_an_empty_session_says_what_to_do() -> None:
    with pytest.raises(ValueError, match="entries is empty"):
        worksheet_html("x", [])
