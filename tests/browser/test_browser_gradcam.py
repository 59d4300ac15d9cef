"""Grad-CAM in a real browser: a teacher explains another class and downloads the overlay."""

import pytest

from tests.browser.helpers import (
    assert_images_not_blank,
    assert_no_exception,
    go_to,
    image_bytes,
    image_with_caption,
    pick,
    screenshot,
    settle,
)

pytestmark = pytest.mark.browser


def test_another_top_k_class_changes_the_overlay(page) -> None:
    go_to(page, "Grad-CAM & attributions")
    options = page.get_by_role("radiogroup", name="Top-5 predictions").get_by_test_id("stRadioOption")
    assert options.count() == 5
    first_class = options.nth(0).inner_text().split(" · ")[0]
    second_class = options.nth(1).inner_text().split(" · ")[0]
    assert first_class != second_class
    before = image_bytes(page, image_with_caption(page, f"Grad-CAM of {first_class} ("))
    image_with_caption(page, "raw map, ")  # the map before upsampling, one square per value
    assert_images_not_blank(page, minimum=2)

    options.nth(1).click()  # explain the runner-up instead of the prediction
    settle(page)
    after = image_bytes(page, image_with_caption(page, f"Grad-CAM of {second_class} ("))
    assert after != before
    assert_images_not_blank(page, minimum=2)
    download = page.get_by_test_id("stDownloadButton").filter(has_text="Overlay (PNG)")
    assert download.count() == 1 and download.is_visible()
    assert_no_exception(page)
    screenshot(page, "gradcam")

    pick(page, "View", "Top-3")  # three classes side by side, on one colour scale
    image_with_caption(page, f"{first_class} · ")
    page.get_by_text("The 3 maps share one colour scale").wait_for()
    assert_images_not_blank(page, minimum=7)  # three overlays, their raw maps and the one colour bar
    assert page.get_by_test_id("stDownloadButton").filter(has_text="Overlay (PNG)").count() == 3
    assert_no_exception(page)
    screenshot(page, "gradcam_top3")
