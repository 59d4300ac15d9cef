"""The lesson player in the sidebar: pick a lesson, step through it, ask, reveal.

A step sets the session state the pages read (the sidebar's ``sb_*`` keys, the features page's
``fm_layer``, Grad-CAM's ``gc_view`` and layer, YOLO's ``det_conf``) and opens its page with
``st.switch_page``. Lessons are YAML files in ``assets/lessons/`` (format in its README.md).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core import models, safe_text
from core.config import Lesson, LessonError, Step, check_references, load_lessons
from core.io import sample_images
from dashboard.sidebar import PRETRAINED, RANDOM

FOLDER = Path(__file__).resolve().parents[1] / "assets" / "lessons"
PAGE_FILES = {name: f"app_pages/{name}.py" for name in ("home", "zoo", "features", "gradcam", "transfer", "detection")}


@st.cache_data(ttl=30, show_spinner=False)
def lessons(folder: Path = FOLDER) -> tuple[list[Lesson], list[str]]:
    """The usable lessons, and one message per file that is not (checked against this installation)."""
    found, problems = load_lessons(folder)
    usable = []
    for lesson in found:
        try:
            check_references(lesson, set(models.list_models()), set(sample_images()))
            usable.append(lesson)
        except LessonError as exc:
            problems.append(str(exc))
    return usable, problems


def settings(step: Step, model_key: str) -> dict[str, object]:
    """The session-state values a step sets (only what it names; everything else stays as it is)."""
    state: dict[str, object] = {}
    if step.model:
        state["sb_model"] = model_key = step.model
    if step.weights:
        state["sb_weights"] = PRETRAINED if step.weights == "pretrained" else RANDOM
    if step.image:
        state.update(sb_source="Sample", sb_sample=step.image)
    if step.layer and step.page == "features":
        state.update(fm_layer=step.layer, fm_jump=step.layer)
    if step.layer and step.page == "gradcam":
        state[f"gc_layer_{model_key}"] = step.layer
    if step.view:
        state["gc_view"] = step.view
    if step.confidence is not None:
        state["det_conf"] = step.confidence
    return state


def _go(lesson: Lesson, index: int) -> None:
    """Button callback: apply step ``index`` and ask for its page (switched to after the callbacks)."""
    step = lesson.steps[index]
    st.session_state.update(ls_pending=cumulative(lesson, index), ls_step=index, ls_revealed=False)
    st.session_state["ls_goto"] = PAGE_FILES[step.page]


def cumulative(lesson: Lesson, index: int) -> dict[str, object]:
    """What steps 0..``index`` set, later steps winning: each step shows the same thing however it is reached
    (Back, Next, or straight after a refresh)."""
    state: dict[str, object] = {}
    for step in lesson.steps[: index + 1]:
        model = str(state.get("sb_model") or st.session_state.get("sb_model") or models.default_key())
        state.update(settings(step, model))
    return state


def apply_pending() -> None:
    """Apply the step's settings at the start of the run on its page, before any widget is drawn.

    (Set before the switch, the sidebar's widgets would be drawn afresh on the new page and lose them.)
    """
    if "ls_goto" not in st.session_state and (pending := st.session_state.pop("ls_pending", None)):
        st.session_state.update(pending)


def _reveal() -> None:
    st.session_state["ls_revealed"] = True


def _player(lesson: Lesson) -> None:
    index = st.session_state.get("ls_step")
    if index is None or index >= len(lesson.steps):
        st.caption(safe_text.markdown(lesson.summary))
        st.button("Start the lesson", key="ls_start", on_click=_go, args=(lesson, 0), icon=":material/play_arrow:")
        return
    step = lesson.steps[index]
    st.markdown(f"**Step {index + 1} of {len(lesson.steps)}.** {safe_text.markdown(step.ask)}")
    if st.session_state.get("ls_revealed"):
        st.success(safe_text.markdown(step.reveal), icon=":material/lightbulb:")
    else:
        st.button("Reveal", key="ls_reveal", on_click=_reveal, icon=":material/visibility:")
    back, forward = st.columns(2)
    back.button("Back", key="ls_back", disabled=index == 0, on_click=_go, args=(lesson, max(0, index - 1)))
    if index + 1 < len(lesson.steps):
        forward.button("Next", key="ls_next", on_click=_go, args=(lesson, index + 1), type="primary")


def _lesson_changed() -> None:
    st.session_state.pop("ls_step", None)
    st.session_state["ls_current"] = st.session_state.get("ls_lesson")


def render() -> None:
    """The player (call inside the sidebar); switches page when a step asked for it."""
    found, problems = lessons()
    by_name = {lesson.name: lesson for lesson in found}
    chosen = st.session_state.get("ls_current")  # kept outside the widget: it survives page switches
    if chosen in by_name:
        st.session_state["ls_lesson"] = chosen
    with st.expander("Lesson", icon=":material/school:", expanded=chosen is not None):
        name = st.selectbox(
            "Lesson",
            list(by_name),
            index=None,
            format_func=lambda n: by_name[n].title,
            key="ls_lesson",
            placeholder="Choose a lesson",
            on_change=_lesson_changed,
        )
        for problem in problems:
            st.error(safe_text.markdown(problem), icon=":material/error:")
        if name in by_name:
            _player(by_name[name])
    goto = st.session_state.pop("ls_goto", None)
    if goto:
        st.switch_page(goto)
