"""Lessons: plain YAML files in ``assets/lessons/`` that a teacher can write, checked with clear errors.

A lesson is a title, a one-line summary and a list of steps. Each step sets the page and, if it
says so, the model, weights, image, layer, Grad-CAM view and detection confidence; it asks the class
a question (``ask``) and then shows the answer (``reveal``). Example::

    title: From edges to objects
    summary: What a convolution responds to, layer by layer.
    steps:
      - page: features          # home, zoo, features, gradcam, transfer or detection
        model: tiny_vgg         # optional: a model key from the zoo
        weights: pretrained     # optional: pretrained or random
        image: shape star       # optional: a sample image's name
        layer: features.conv_1_1  # optional: a convolution (features) or Grad-CAM layer
        ask: What will the first layer's maps show?
        reveal: Edges and blobs of colour - the filters are small and see 3x3 pixels.

Every problem raises :class:`LessonError` naming the file and the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

PAGES = ("home", "zoo", "features", "gradcam", "transfer", "detection")
WEIGHTS = ("pretrained", "random")
VIEWS = ("map", "top3", "depth", "sanity")
_REQUIRED = ("page", "ask", "reveal")
_OPTIONAL = ("model", "weights", "image", "layer", "view", "confidence")


class LessonError(ValueError):
    """A lesson file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Step:
    page: str
    ask: str
    reveal: str
    line: int  # where the step starts in its file (1-based), for messages
    model: str | None = None
    weights: str | None = None
    image: str | None = None
    layer: str | None = None
    view: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Lesson:
    name: str  # the file's stem
    title: str
    summary: str
    steps: tuple[Step, ...]
    path: Path


def _fail(path: Path, node: yaml.Node, message: str) -> LessonError:
    return LessonError(f"{path.name}, line {node.start_mark.line + 1}: {message}")


def _scalar(path: Path, node: yaml.Node, key: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise _fail(path, node, f"'{key}' must be a non-empty piece of text.")
    return str(node.value).strip()


def _mapping(path: Path, node: yaml.Node, what: str) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise _fail(path, node, f"{what} must be a mapping of 'key: value' lines.")
    return {str(k.value): v for k, v in node.value}


def _step(path: Path, node: yaml.Node, number: int) -> Step:
    fields = _mapping(path, node, f"step {number}")
    for key in fields:
        if key not in _REQUIRED + _OPTIONAL:
            allowed = ", ".join(_REQUIRED + _OPTIONAL)
            raise _fail(path, node, f"step {number} has an unknown key '{key}'; use {allowed}.")
    for key in _REQUIRED:
        if key not in fields:
            raise _fail(path, node, f"step {number} needs '{key}'.")
    values = {key: _scalar(path, value, key) for key, value in fields.items()}
    choices = {"page": PAGES, "weights": WEIGHTS, "view": VIEWS}
    for key, allowed in choices.items():
        if key in values and values[key] not in allowed:
            raise _fail(path, fields[key], f"'{key}' is {values[key]!r}; choose one of {', '.join(allowed)}.")
    confidence = None
    if "confidence" in values:
        try:
            confidence = float(values.pop("confidence"))
        except ValueError:
            confidence = -1.0
        if not 0.01 <= confidence <= 1.0:
            raise _fail(path, fields["confidence"], "'confidence' must be a number between 0.01 and 1.")
    return Step(line=node.start_mark.line + 1, confidence=confidence, **values)


def parse_lesson(text: str, path: Path) -> Lesson:
    """The lesson in ``text`` (the contents of ``path``). Raises :class:`LessonError`."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark else ""
        raise LessonError(f"{path.name}{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    if root is None:
        raise LessonError(f"{path.name}, line 1: the file is empty; it needs title, summary and steps.")
    top = _mapping(path, root, "the lesson")
    for key in ("title", "summary", "steps"):
        if key not in top:
            raise _fail(path, root, f"the lesson needs '{key}'.")
    steps = top["steps"]
    if not isinstance(steps, yaml.SequenceNode) or not steps.value:
        raise _fail(path, steps, "'steps' must be a list of steps, each starting with '- page: ...'.")
    return Lesson(
        name=path.stem,
        title=_scalar(path, top["title"], "title"),
        summary=_scalar(path, top["summary"], "summary"),
        steps=tuple(_step(path, node, i) for i, node in enumerate(steps.value, 1)),
        path=path,
    )


def check_references(lesson: Lesson, models: set[str], images: set[str]) -> None:
    """Raise :class:`LessonError` when a step names a model or a sample image this installation lacks."""
    for number, step in enumerate(lesson.steps, 1):
        if step.model is not None and step.model not in models:
            raise LessonError(
                f"{lesson.path.name}, line {step.line}: step {number} names model {step.model!r}; "
                f"choose one of {', '.join(sorted(models))}."
            )
        if step.image is not None and step.image not in images:
            raise LessonError(
                f"{lesson.path.name}, line {step.line}: step {number} names image {step.image!r}; "
                f"choose one of {', '.join(sorted(images))}."
            )


def load_lessons(folder: Path) -> tuple[list[Lesson], list[str]]:
    """Every ``*.yaml`` lesson in ``folder`` in name order, and one message per file that could not be used."""
    lessons, problems = [], []
    for path in sorted(folder.glob("*.yaml")):
        try:
            lessons.append(parse_lesson(path.read_text(encoding="utf-8"), path))
        except (LessonError, UnicodeDecodeError) as exc:
            problems.append(str(exc) if isinstance(exc, LessonError) else f"{path.name}: not UTF-8 text.")
    return lessons, problems
