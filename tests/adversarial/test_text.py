"""A hostile student's strings (class folders, file names, label names) reach every page as plain text."""

from __future__ import annotations

import csv
import io
import re
import string
from pathlib import Path

import numpy as np
import pytest

from core import safe_text
from core.datasets.folders import load_dataset
from core.detection import pictures as det_render
from core.detection.boxes import GroundTruth, make_detections
from core.detection.metrics import evaluate, report_csv
from core.transfer import charts as transfer_charts
from tests.apptest import open_page, texts
from tests.conftest import ROOT
from tests.tiny_datasets import make_dataset

EVIL = (
    '<div style="position:fixed;top:0;left:0;width:100%;height:100%;background:red">owned</div>',
    "[click me](https://evil.example/steal)",
    "![x](https://evil.example/pixel.png)",
    "<a href='https://evil.example'>grades</a>",
    "<img src=x onerror=alert(1)>",
    ":red[**shout**] # heading",
    "line\nbreak\r\n- list item",
    "`code` *em* _em_ ~~strike~~ $x^2$ | table |",
)
# CommonMark: a backslash before any ASCII punctuation makes it a literal character.
_ESCAPE = re.compile(r"\\([" + re.escape(string.punctuation) + "])")


def _unescape(markdown: str) -> str:
    return _ESCAPE.sub(r"\1", markdown)


def _unescaped_punctuation(markdown: str) -> list[str]:
    """Punctuation that Markdown would still interpret (not preceded by an escaping backslash)."""
    left = _ESCAPE.sub("", markdown)
    return [c for c in left if c in string.punctuation]


@pytest.mark.parametrize("text", EVIL)
def test_markdown_escaping_shows_exactly_the_text(text: str) -> None:
    shown = safe_text.markdown(text)
    assert _unescaped_punctuation(shown) == []
    assert _unescape(shown) == re.sub(r"[\r\n]+", " ", text)
    assert "\n" not in shown and "\r" not in shown


@pytest.mark.parametrize("text", EVIL)
def test_plotly_labels_show_tags_as_text(text: str) -> None:
    shown = safe_text.plotly(text)
    assert "<" not in shown and ">" not in shown
    assert shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text


def _figure_strings(figure) -> list[str]:
    found = []
    for trace in figure.data:
        for field in ("x", "y", "name", "text"):
            value = getattr(trace, field, None)
            if isinstance(value, str):
                found.append(value)
            elif value is not None:
                found += [v for v in value if isinstance(v, str)]
    return found


def test_class_names_in_charts_cannot_make_links(tmp_path: Path) -> None:
    evil = ("<a href='https:__evil'>ants<_a>", "<b onmouseover=x>bees<_b>")  # folder names cannot hold '/'
    root = make_dataset(tmp_path / "d", dict.fromkeys(evil, 4))
    dataset = load_dataset(root, 0.25)
    figures = [
        transfer_charts.class_counts_figure(dataset),
        transfer_charts.confusion_figure(np.eye(2, dtype=int), dataset.classes, "fine_tuning"),
    ]
    truth = GroundTruth(np.array([[0.0, 0, 10, 10]]), np.array([0]))
    report = evaluate([make_detections([[0, 0, 10, 10]], [0.9], [0])], [truth], {0: evil[0]}, conf=0.5, iou=0.5)
    figures += [det_render.confusion_figure(report.confusion), det_render.pr_figure(report.curves, 0.5)]
    shown = [s for figure in figures for s in _figure_strings(figure)]
    assert any("ants" in s for s in shown)
    assert not [s for s in shown if "<a" in s or "<b" in s]


@pytest.mark.parametrize("name", ['=HYPERLINK("https://evil","grades")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_from_class_names_are_not_formulas(name: str) -> None:
    truth = GroundTruth(np.array([[0.0, 0, 10, 10]]), np.array([0]))
    report = evaluate([make_detections([[0, 0, 10, 10]], [0.9], [0])], [truth], {0: name}, conf=0.5, iou=0.5)
    rows = list(csv.reader(io.StringIO(report_csv(report), newline="")))
    cells = [row[0] for row in rows[1:]]
    assert "'" + name.replace("\r", " ") in cells  # quoted, shown as text by spreadsheets; one row per class
    assert all(
        not c.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for c in row if c[:1] not in "0123456789"
    )


def test_no_page_passes_user_text_as_html() -> None:
    for page in (ROOT / "dashboard").rglob("*.py"):
        for number, line in enumerate(page.read_text().splitlines(), start=1):
            if "unsafe_allow_html=True" in line:  # only the strategies' own colour swatches, never user text
                assert "_swatch(" in line, f"{page.name}:{number}: {line.strip()}"


def test_a_hostile_dataset_is_shown_as_text_on_the_transfer_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(tmp_path / "data"))
    cover = '<div style="position:fixed;inset:0;background:red">owned<_div>'
    link = "[grades](https:__evil.example)"
    make_dataset(tmp_path / "data" / "![x](https:__evil.example_p.png)", {cover: 4, link: 4})
    at = open_page("transfer", sb_weights="Random (untrained)", sb_model="resnet18")
    assert not at.exception
    every = [e.value for kind in ("markdown", "caption", "warning", "error", "info") for e in getattr(at, kind)]
    hostile = [text for text in every if "owned" in text or "grades" in text or "evil" in text]
    assert hostile, texts(at)  # the names are shown...
    for text in hostile:  # ...as text: every Markdown character in them is escaped
        for fragment in (cover, link):
            assert fragment not in text
    assert all(not getattr(e.proto, "allow_html", False) for e in at.markdown if "owned" in e.value)
