"""What a teacher does on each page, in a real browser against the real server."""

import pytest

from tests.browser.helpers import (
    assert_images_not_blank,
    assert_no_exception,
    choose,
    go_to,
    screenshot,
    settle,
)

pytestmark = pytest.mark.browser


def test_home_page(page) -> None:
    page.get_by_role("heading", name="Pretrained weights on this machine").wait_for()  # is_visible would not wait
    settle(page)
    assert_no_exception(page)
    screenshot(page, "home")


def test_zoo_page_with_random_weights(page) -> None:
    go_to(page, "Model zoo")
    choose(page, "Model", "ResNet-18")  # offline, its ImageNet weights are missing: the page offers random ones
    assert page.get_by_role("heading", name="Model zoo: ResNet-18").is_visible()
    page.get_by_role("button", name="Use random weights (untrained)").click()
    settle(page)
    page.get_by_text("Top-5 of ResNet-18 · untrained").wait_for()
    assert_images_not_blank(page)
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    assert page.get_by_test_id("stPlotlyChart").count() >= 2
    assert_no_exception(page)
    screenshot(page, "zoo")
