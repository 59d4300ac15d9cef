"""A self-contained HTML worksheet of what the class saw: pictures (base64), titles, captions, notes.

Everything given is escaped: titles and captions may hold file names and class names users chose.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from datetime import datetime

_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#111;font-size:18px}"
    "figure{margin:2em 0;page-break-inside:avoid}img{max-width:100%;border:1px solid #ccc}"
    "figcaption{color:#333}.q{border-left:4px solid #1f77b4;padding-left:.6em}"
    ".answer{height:4em;border-bottom:1px dashed #999}"
)


@dataclass(frozen=True)
class Entry:
    """One thing the class saw: a titled PNG with its caption and, optionally, a question for students."""

    title: str
    caption: str
    png: bytes
    question: str = ""


def worksheet_html(title: str, entries: list[Entry], when: datetime | None = None) -> str:
    """One HTML file (no external resources) with every entry in order and space to answer its question."""
    if not entries:
        raise ValueError("entries is empty: look at a few pictures on the pages first, then download the worksheet.")
    stamp = (when or datetime.now()).strftime("%Y-%m-%d %H:%M")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p>ConvLens, {stamp}. {len(entries)} picture(s).</p>",
    ]
    for number, entry in enumerate(entries, 1):
        data = base64.b64encode(entry.png).decode("ascii")
        parts.append(
            f"<figure><h2>{number}. {html.escape(entry.title)}</h2>"
            f"<img alt='{html.escape(entry.title, quote=True)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(entry.caption)}</figcaption></figure>"
        )
        if entry.question:
            parts.append(f"<p class='q'>{html.escape(entry.question)}</p><div class='answer'></div>")
    parts.append("</body></html>")
    return "\n".join(parts)
