"""What every real-browser test does: navigate, wait for Streamlit to settle, check, screenshot."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tests.browser.conftest import SCREENSHOTS


def go_to(page, title: str) -> None:
    """Click a page in the sidebar navigation (keeps the browser's Streamlit session)."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    settle(page)


def settle(page, timeout_ms: int = 120_000) -> None:
    """Wait until Streamlit has finished running the script and no element is stale."""
    page.wait_for_timeout(200)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.dataset.testScriptState === 'notRunning'
                && !document.querySelector('[data-stale="true"]');
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
