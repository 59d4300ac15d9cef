"""In front of a class, in a real browser: the picture on the first screen of a 1366x768 projector,
presenter mode, a lesson played step by step, and the session's worksheet.

Screenshots of every page at 1366x768 and 1920x1080 go to artifacts/screenshots/first_screen_*.png.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.helpers import (
    assert_no_exception,
    choose,
    go_to,
    image_with_caption,
    screenshot,
    settle,
    start_training,
    step_slider,
)

pytestmark = pytest.mark.browser

PROJECTOR = {"width": 1366, "height": 768}
DESKTOP = {"width": 1920, "height": 1080}
PAGES = {
    "zoo": "Model zoo",
    "features": "Filters & feature maps",
    "gradcam": "Grad-CAM & attributions",
    "transfer": "Transfer learning",
    "detection": "YOLO detection",
}


def off_screen(page, locator, what: str, name: str) -> list[str]:
    """[] when ``locator``'s whole bounding box lies inside the viewport without scrolling, else why not."""
    view(page, name)  # what the class sees, saved before judging it
    box = locator.bounding_box()
    size = page.viewport_size
    if box is None:
        return [f"{what} is not shown"]
    inside = box["x"] >= 0 and box["y"] >= 0
    inside = inside and box["x"] + box["width"] <= size["width"] + 1 and box["y"] + box["height"] <= size["height"] + 1
    return [] if inside else [f"{what} at {box} is not inside the {size['width']}x{size['height']} viewport"]


def view(page, name: str) -> None:
    """Save what the class sees now: the first screen only (the viewport), not the whole page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"first_screen_{name}.png"))


def main_interactions(page) -> list[str]:
    """On each page, the teacher's main interaction; returns the result pictures not on the first screen."""
    misses = []
    go_to(page, PAGES["zoo"])
    choose(page, "Model", "Tiny VGG (classroom)")  # shipped and trained: every page has a real result
    choose(page, "Sample image", "shape circle")
    misses += off_screen(page, page.get_by_test_id("stPlotlyChart").first, "the zoo's top-5 chart", "zoo_1366")

    go_to(page, PAGES["features"])
    step_slider(page, "Layer by layer: ")
    misses += off_screen(
        page, image_with_caption(page, " maps of features.conv_1_2 ("), "the feature maps", "features_1366"
    )

    go_to(page, PAGES["gradcam"])
    options = page.get_by_role("radiogroup", name="Top-5 predictions").get_by_test_id("stRadioOption")
    second = options.nth(1).inner_text().split(" · ")[0]
    options.nth(1).click()
    settle(page)
    misses += off_screen(
        page, image_with_caption(page, f"Grad-CAM of {second} ("), "the Grad-CAM overlay", "gradcam_1366"
    )

    go_to(page, PAGES["detection"])
    step_slider(page, "Confidence threshold", "ArrowLeft")
    misses += off_screen(
        page, image_with_caption(page, "at confidence ≥ 0.24"), "the judged detection picture", "detection_1366"
    )

    go_to(page, PAGES["transfer"])
    page.get_by_role("heading", name="Transfer learning").first.wait_for()
    view(page, "transfer_1366")
    assert_no_exception(page)
    return misses


def test_first_screen_presenter_lesson_and_worksheet(page) -> None:
    page.set_viewport_size(PROJECTOR)
    misses = main_interactions(page)

    page.set_viewport_size(DESKTOP)
    for name, title in PAGES.items():
        go_to(page, title)
        view(page, f"{name}_1920")
        screenshot(page, f"first_screen_{name}_1920_full")

    page.set_viewport_size(PROJECTOR)
    page.get_by_text("Presenter mode").click()  # large type, one column, the picture first
    settle(page)
    go_to(page, PAGES["gradcam"])
    page.get_by_text("Notice where the red is").wait_for()
    view(page, "gradcam_presenter_1366")
    page.get_by_text("Presenter mode").click()
    settle(page)

    # A lesson: the player opens the page with the step's settings, asks, reveals, goes on.
    lesson_box = page.get_by_role("combobox", name="Lesson", exact=True)
    if not lesson_box.is_visible():  # the player's expander starts closed
        page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(has_text="Lesson").locator(
            "summary"
        ).click()
    lesson_box.wait_for()
    page.wait_for_timeout(500)  # the expander's opening animation
    choose(page, "Lesson", "From edges to objects")
    page.get_by_role("button", name="Start the lesson").click()
    settle(page)
    page.get_by_role("heading", name="Filters & feature maps").wait_for()
    assert page.get_by_role("slider", name="Layer by layer: ").get_attribute("aria-valuetext") == "features.conv_1_1"
    page.get_by_text("Step 1 of 3.").wait_for()
    page.get_by_role("button", name="Reveal").click()
    settle(page)
    page.get_by_text("Edges and flat areas of the star").wait_for()
    page.get_by_role("button", name="Next").click()
    settle(page)
    page.get_by_text("Step 2 of 3.").wait_for()
    image_with_caption(page, " maps of features.conv_2_2 (")  # waits for the step's layer
    assert page.get_by_role("slider", name="Layer by layer: ").get_attribute("aria-valuetext") == "features.conv_2_2"
    view(page, "lesson_step2_1366")
    assert_no_exception(page)

    # The worksheet: one self-contained HTML file with the pictures the class saw.
    with page.expect_download() as caught:
        page.get_by_test_id("stDownloadButton").filter(has_text="Worksheet of this session").click()
    html = Path(caught.value.path()).read_text(encoding="utf-8")
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", html)
    assert len(images) >= 4 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert not re.search(r"(src|href)=['\"]?(https?:|//)|url\(", html)  # nothing fetched from elsewhere
    assert misses == []


def train_shapes(page, epochs: int) -> None:
    """A short run of the fast classroom model on the generated shapes, from the sidebar's form; waits for its end.

    Both transfer strategies at the smallest image size (no baseline from scratch): seconds on a busy CPU.
    """
    choose(page, "Model", "Tiny VGG (classroom)")
    page.get_by_test_id("stSidebar").get_by_role("button", name="From scratch").click()  # a form: no rerun
    for name, steps in (("Epochs", None), ("Image size (px)", 10)):
        slider = page.get_by_role("slider", name=name)
        slider.focus()
        for _ in range(steps or int(slider.get_attribute("aria-valuetext")) - epochs):
            slider.press("ArrowLeft")
    assert page.get_by_role("slider", name="Image size (px)").get_attribute("aria-valuetext") == "64"
    start_training(page)
    ended = page.get_by_test_id("stAlertContentSuccess").or_(page.get_by_test_id("stAlertContentError"))
    ended.or_(page.get_by_test_id("stAlertContentWarning")).first.wait_for(timeout=300_000)
    page.get_by_test_id("stDataFrame").first.wait_for()  # the comparison: the page's rerun after the run's end
    settle(page)


def test_transfer_curves_and_comparison_on_the_first_screen(page) -> None:
    page.set_viewport_size(PROJECTOR)
    go_to(page, PAGES["transfer"])
    train_shapes(page, epochs=2)
    assert page.get_by_test_id("stAlertContentSuccess").count() == 1, page.get_by_test_id("stAlert").all_inner_texts()
    curves = page.get_by_test_id("stPlotlyChart").filter(has_text="Loss (lower is better)")
    misses = off_screen(page, curves, "the transfer curves", "transfer_1366")
    misses += off_screen(page, page.get_by_test_id("stDataFrame").first, "the comparison", "transfer_1366")
    page.set_viewport_size(DESKTOP)
    settle(page)
    view(page, "transfer_1920")
    screenshot(page, "first_screen_transfer_1920_full")
    assert_no_exception(page)
    assert misses == []
