"""Lesson files: the shipped ones load; mistakes are reported with the file and the line."""

import re
from pathlib import Path

import pytest

from core import models
from core.config import LessonError, check_references, load_lessons, parse_lesson
from core.io import sample_images
from tests.conftest import ROOT

GOOD = """\
title: A lesson
summary: One step.
steps:
  - page: features
    model: tiny_vgg
    layer: features.conv_1_1
    ask: What?
    reveal: That.
"""


def test_every_shipped_lesson_loads_and_names_real_models_and_images() -> None:
    lessons, problems = load_lessons(ROOT / "assets" / "lessons")
    assert problems == []
    assert len(lessons) >= 4
    for lesson in lessons:
        check_references(lesson, set(models.list_models()), set(sample_images()))
        assert all(step.ask and step.reveal for step in lesson.steps)


def test_a_good_lesson_parses_with_its_lines() -> None:
    lesson = parse_lesson(GOOD, Path("mine.yaml"))
    step = lesson.steps[0]
    assert (lesson.name, lesson.title, step.page, step.model, step.layer, step.line) == (
        "mine",
        "A lesson",
        "features",
        "tiny_vgg",
        "features.conv_1_1",
        4,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("page: features", "page: feature"), "mine.yaml, line 4: 'page' is 'feature'; choose one of"),
        (GOOD.replace("    ask: What?\n", ""), "mine.yaml, line 4: step 1 needs 'ask'."),
        (GOOD.replace("    reveal: That.\n", "    reveal: That.\n    colour: red\n"), "unknown key 'colour'"),
        (GOOD.replace("title: A lesson\n", ""), "mine.yaml, line 1: the lesson needs 'title'."),
        (GOOD.replace("steps:\n", "steps: []\nx:\n"), "'steps' must be a list"),
        ("title: [unclosed\n", "mine.yaml, line 2: not valid YAML"),
        ("", "mine.yaml, line 1: the file is empty"),
        (GOOD + "  - page: detection\n    confidence: lots\n    ask: a\n    reveal: b\n", "line 10: 'confidence' must"),
    ],
)
def test_mistakes_name_the_file_and_the_line(text: str, message: str) -> None:
    with pytest.raises(LessonError) as caught:
        parse_lesson(text, Path("mine.yaml"))
    assert message in str(caught.value)


def test_unknown_model_or_image_is_reported_and_bad_files_do_not_hide_good_ones(tmp_path: Path) -> None:
    lesson = parse_lesson(GOOD.replace("tiny_vgg", "tiny_vgg_xl"), Path("mine.yaml"))
    with pytest.raises(LessonError, match=re.escape("mine.yaml, line 4: step 1 names model 'tiny_vgg_xl'")):
        check_references(lesson, set(models.list_models()), set(sample_images()))
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text("title: x\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_bytes(b"\xff\xfe title")
    lessons, problems = load_lessons(tmp_path)
    assert [lesson.name for lesson in lessons] == ["a"]
    assert problems == ["b.yaml, line 1: the lesson needs 'summary'.", "c.yaml: not UTF-8 text."]
