"""YOLO detection in a real browser: the shipped samples judged against their shipped labels."""

import pytest

from tests.browser.conftest import SCREENSHOTS
from tests.browser.helpers import (
    assert_images_not_blank,
    assert_no_exception,
    choose,
    go_to,
    image_bytes,
    screenshot,
    settle,
    step_slider,
)
from tests.conftest import shared_path

pytestmark = pytest.mark.browser


def metric(page, label: str) -> str:
    """The value shown under the metric labelled ``label``."""
    box = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").filter(has_text=label))
    return box.first.get_by_test_id("stMetricValue").inner_text()


def test_samples_are_detected_and_judged_with_iou_and_metrics(page) -> None:
    shared_path("weights", "yolov8n_int8_openvino_model")  # the server links it into its weights folder
    go_to(page, "YOLO detection")
    assert page.get_by_role("combobox", name="Model").input_value().startswith("yolov8n · ")
    page.get_by_text("ran once on 2 image(s)").wait_for()
    page.get_by_text("Ground truth: 9 boxes from label files").wait_for()
    assert (metric(page, "TP"), metric(page, "FP"), metric(page, "FN")) == ("5", "0", "0")  # bus.jpg
    assert metric(page, "Precision") == "0.889" and metric(page, "Recall") == "0.889"
    for label in ("F1", "mAP50", "mAP50-95"):
        assert 0 < float(metric(page, label)) <= 1, label
    page.get_by_text("IoU: with the matched true box for a TP").wait_for()  # under the detections table
    assert page.get_by_test_id("stPlotlyChart").count() == 2  # PR curve and confusion matrix
    assert_images_not_blank(page, minimum=3)  # the judged picture, its legend, the IoU explainer
    picture = page.get_by_test_id("stImage").first.locator("img")
    bus = image_bytes(page, picture)
    assert_no_exception(page)
    screenshot(page, "detection")

    choose(page, "Image", "zidane.jpg")
    assert image_bytes(page, picture) != bus
    assert (metric(page, "TP"), metric(page, "FP"), metric(page, "FN")) == ("3", "1", "1")  # one tie is missed
    assert_no_exception(page)


def test_under_the_hood_steps_through_nms(page) -> None:
    shared_path("weights", "yolov8n_int8_openvino_model")
    page.set_viewport_size({"width": 1366, "height": 768})
    go_to(page, "YOLO detection")
    page.get_by_text("ran once on 2 image(s)").wait_for()
    page.get_by_text("Show how YOLO gets there, in four steps").click()
    settle(page)
    page.get_by_text("8,400 cells", exact=False).first.wait_for()
    page.get_by_role("tab", name="3 · NMS step by step").click()
    settle(page)
    page.get_by_text("Step 1 of 5: keep the most confident box").wait_for()
    step_slider(page, "NMS step")
    page.get_by_text("Step 2 of 5: keep the most confident box").wait_for()
    assert_no_exception(page)
    page.get_by_role("slider", name="NMS step").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "detection_hood.png"))  # what a 1366x768 projector shows
    page.get_by_role("tab", name="1 · The grids").click()
    settle(page)
    page.get_by_text("8,400 cells", exact=False).first.evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=str(SCREENSHOTS / "detection_hood_grids.png"))
    assert_no_exception(page)
