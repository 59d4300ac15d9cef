"""What units learned in a real browser: record the sample photos, pick a channel, draw the image it wants."""

import pytest

from tests.browser.helpers import assert_images_not_blank, assert_no_exception, choose, go_to, screenshot, settle

pytestmark = pytest.mark.browser


def test_record_a_dataset_and_draw_a_channel(page) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    go_to(page, "What units learned")
    choose(page, "Model", "Tiny VGG (classroom)")  # small and fast (the default is EfficientNet-Lite0)
    page.get_by_role("heading", name="What units learned").wait_for()
    page.get_by_role("button", name="Record the dataset").click()
    settle(page)
    page.get_by_text("The 9 images where channel 0 of features.conv_1_1 fires most").wait_for()
    choose(page, "Image size (px)", "64")
    choose(page, "Steps", "16")
    channel = page.get_by_label("Channel (0-15)")
    channel.fill("1")
    channel.press("Enter")
    settle(page)
    page.get_by_role("button", name="Draw it").click()
    settle(page)
    page.get_by_text("in 16 steps").wait_for()
    assert_no_exception(page)
    assert_images_not_blank(page, minimum=10)
    screenshot(page, "units")
