"""What every real-browser test does: navigate, wait for Streamlit to settle, check, screenshot."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS


def go_to(page, title: str) -> None:
    """Click a page in the sidebar navigation (keeps the browser's Streamlit session)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    settle(page)


def settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script, no element is stale or still a
    placeholder (skeleton), and every picture has loaded."""
    page.wait_for_timeout(200)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.dataset.testScriptState === 'notRunning'
                && !document.querySelector('[data-stale="true"], [data-testid="stSkeleton"]')
                && [...document.images].every(image => image.complete);
        }""",
        timeout=timeout_ms,
    )


def assert_no_exception(page) -> None:
    boxes = page.get_by_test_id("stException")
    assert boxes.count() == 0, boxes.first.inner_text()


def assert_images_not_blank(page, minimum: int = 1) -> None:
    """At least ``minimum`` images are shown, and the first ones have real content (not one colour)."""
    images = page.locator("[data-testid='stImage'] img, [data-testid='stFullScreenFrame'] img")
    assert images.count() >= minimum, f"expected {minimum} images, found {images.count()}"
    for i in range(min(images.count(), 3)):
        shot = images.nth(i).screenshot()
        pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=np.float32)
        assert pixels.std() > 2.0, f"image {i} looks blank"


def screenshot(page, name: str) -> None:
    """Save the whole page (Streamlit scrolls inside its own container, so grow the viewport)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size(size)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label`` (sidebar or page) and wait for the rerun."""
    _open(page, label)
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def options_of(page, label: str) -> list[str]:
    """The options of the select box labelled ``label``, as shown in its open list."""
    _open(page, label)
    texts = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return texts


def _open(page, label: str) -> None:
    box = page.get_by_role("combobox", name=label, exact=True)
    box.scroll_into_view_if_needed()  # scrolling while the list is open would close it
    box.click()
    page.get_by_role("option").first.wait_for()


def pick(page, group: str, option: str) -> None:
    """Click ``option`` in the segmented control labelled ``group`` and wait for the rerun."""
    page.get_by_role("radiogroup", name=group, exact=True).get_by_role("radio", name=option, exact=True).click()
    settle(page)


def step_slider(page, label: str, key: str = "ArrowRight") -> None:
    """Move the slider labelled ``label`` one step, with the keyboard as a user would, and wait."""
    slider = page.get_by_role("slider", name=label)
    slider.focus()
    slider.press(key)
    settle(page)


def image_with_caption(page, caption: str, scope=None):
    """The ``<img>`` of the ``st.image`` whose caption contains ``caption`` (waits until it is shown)."""
    figure = (
        (scope or page)
        .get_by_test_id("stImage")
        .filter(has=page.get_by_test_id("stImageCaption").filter(has_text=caption))
    )
    image = figure.first.locator("img")
    image.wait_for()
    return image


def image_bytes(page, image) -> bytes:
    """The bytes the server sends for an ``<img>`` (a new picture gets a new media file)."""
    response = page.request.get(image.get_attribute("src"))
    assert response.ok, f"{response.status} for {image.get_attribute('src')}"
    return response.body()


def start_training(page) -> None:
    """Press Train and wait until the page shows the run it started, not an earlier run of the same server.

    A new browser session first shows the newest run on the server (another test's, finished, with its
    success message): waiting for "an ended run" before the picker moves would see that one.
    """
    picker = page.get_by_role("combobox", name="Run", exact=True)
    before = picker.input_value() if picker.count() else None
    page.get_by_role("button", name="Train", exact=True).click()
    if before is None:
        picker.wait_for(timeout=120_000)
    else:
        expect(picker).not_to_have_value(before, timeout=120_000)
