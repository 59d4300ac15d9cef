"""What units learned in a real browser: record the sample photos, pick a channel, draw the image it wants."""

import csv
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.helpers import assert_images_not_blank, assert_no_exception, choose, go_to, screenshot, settle

pytestmark = pytest.mark.browser


def test_record_a_dataset_and_draw_a_channel(page) -> None:
    page.set_viewport_size({"width": 1366, "height": 768})
    go_to(page, "What units learned")
    choose(page, "Model", "Tiny VGG (classroom)")  # small and fast (the default is EfficientNet-Lite0)
    page.get_by_role("heading", name="What units learned").wait_for()
    choose(page, "Input size (px)", "64")
    page.get_by_role("button", name="Record the dataset").click()
    settle(page)
    page.get_by_text("The 9 images where channel 0 of features.conv_1_1 fires most").wait_for()
    # The numbers, made on click: every photo's maximum and its place, found by running the photos again.
    with page.expect_download() as caught:
        page.get_by_test_id("stDownloadButton").filter(has_text="Every image's max (CSV)").click()
    rows = list(csv.reader(Path(caught.value.path()).read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["rank", "image", "max", "row", "col"] and len(rows) == 10
    assert {r[1] for r in rows[1:]} >= {"astronaut.jpg", "shape_star.png"}  # names in the dataset, not server paths
    assert all(0 <= int(r[3]) < 64 and 0 <= int(r[4]) < 64 for r in rows[1:]), rows
    with page.expect_download() as caught:
        page.get_by_test_id("stDownloadButton").filter(has_text="Patches (PNG)").click()
    with Image.open(caught.value.path()) as slide:
        assert slide.width >= 800  # a slide: the patches with title, model, dataset and layer burnt in
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
