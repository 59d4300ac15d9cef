"""What the teacher did in front of a class, in a real browser: settings that survive the YOLO page, a
refresh and a shared link; a page reset; offline said before the download; the browser's camera."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bench.serve import CHROMIUM, CHROMIUM_ARGS
from tests.browser.helpers import assert_no_exception, choose, go_to, pick, screenshot, settle, step_slider

pytestmark = pytest.mark.browser

FAKE_CAMERA = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


def _sidebar_shows(page, model: str, weights: str, sample: str) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_role("combobox", name="Model").input_value().startswith(model)
    assert sidebar.get_by_role("radio", name=weights, exact=True).get_attribute("aria-checked") == "true"
    assert sample in sidebar.get_by_role("combobox", name="Sample image").input_value()


def test_settings_survive_yolo_refresh_and_links_and_reset(page, app_server: str) -> None:
    go_to(page, "Model zoo")
    choose(page, "Model", "ResNet-18")  # offline: said before anyone presses the download button
    page.get_by_text("No download is possible").wait_for()
    assert page.get_by_role("button", name=re.compile("Download the weights")).is_disabled()
    pick(page, "Weights", "Random (untrained)")
    choose(page, "Sample image", "coffee")
    page.get_by_text("Top-5 of ResNet-18 · untrained").wait_for()

    go_to(page, "YOLO detection")  # the page without the shared sidebar
    page.get_by_role("heading", name="YOLO detection").wait_for()
    page.get_by_role("slider", name="Confidence threshold").wait_for()
    step_slider(page, "Confidence threshold")  # 0.25 -> 0.26: the YOLO page's own setting
    go_to(page, "Model zoo")
    page.get_by_text("Top-5 of ResNet-18 · untrained").wait_for()
    _sidebar_shows(page, "ResNet-18", "Random (untrained)", "coffee")
    assert "model=resnet18" in page.url and "sample=coffee" in page.url
    assert "conf=0.26" in page.url  # the YOLO page's setting, kept while that page is not shown

    page.reload()  # a refresh is a new Streamlit session: the URL brings the view back
    settle(page)
    page.get_by_text("Top-5 of ResNet-18 · untrained").wait_for()
    _sidebar_shows(page, "ResNet-18", "Random (untrained)", "coffee")
    for size in ((1366, 768), (1920, 1080)):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        screenshot(page, f"classroom_zoo_after_refresh_{size[0]}x{size[1]}")

    go_to(page, "YOLO detection")
    slider = page.get_by_test_id("stSlider").filter(has_text="Confidence threshold")
    assert slider.get_by_test_id("stSliderThumbValue").inner_text() == "0.26"  # after a refresh: kept
    go_to(page, "Filters & feature maps")
    choose(page, "Colormap", "magma")
    go_to(page, "Model zoo")
    go_to(page, "Filters & feature maps")
    assert "magma" in page.get_by_role("combobox", name="Colormap").input_value()
    assert "cmap=magma" in page.url
    page.get_by_role("button", name="Reset this page").click()
    settle(page)
    assert "viridis" in page.get_by_role("combobox", name="Colormap").input_value()
    assert "cmap=" not in page.url and "model=resnet18" in page.url  # the sidebar is not the page's
    assert_no_exception(page)

    shared = page.context.browser.new_page()  # a link a teacher sent, with one bad value
    shared.goto(f"{app_server}/?model=resnet18&weights=random&sample=rocket&channel=%3Cb%3Ex")
    settle(shared)
    shared.get_by_text("is not a whole number: ignored.").wait_for()
    assert shared.locator("b", has_text="x").count() == 0  # the link's text is shown, never run as HTML
    go_to(shared, "Model zoo")
    shared.get_by_text("Top-5 of ResNet-18 · untrained").wait_for()
    _sidebar_shows(shared, "ResNet-18", "Random (untrained)", "rocket")
    shared.close()


def test_a_snapshot_from_the_browsers_camera_is_classified(browser, app_server: str) -> None:
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS + FAKE_CAMERA)
    try:
        context = camera.new_context(viewport={"width": 1366, "height": 768}, permissions=["camera"])
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{app_server}/zoo?weights=random&image=camera")
        settle(page)
        snapshot = page.get_by_text("camera snapshot").first
        for _attempt in range(3):  # a click before the fake camera streams frames takes no photo (under load)
            page.wait_for_function(
                "() => [...document.querySelectorAll('video')].some(v => v.readyState >= 2 && v.videoWidth > 0)"
            )
            page.get_by_role("button", name="Take Photo").click()
            settle(page)
            try:
                snapshot.wait_for(timeout=20_000)
                break
            except PlaywrightTimeout:
                if page.get_by_role("button", name="Take Photo").count() == 0:
                    break  # the photo was taken: its answer is on its way
        snapshot.wait_for()
        page.get_by_text(re.compile("Top-5 of .* · untrained")).wait_for()
        assert_no_exception(page)
        screenshot(page, "classroom_camera_1366x768")
    finally:
        camera.close()
