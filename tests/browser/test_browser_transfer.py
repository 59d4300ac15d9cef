"""Transfer learning in a real browser: a short run on the generated shapes, both strategies' curves."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import assert_no_exception, choose, go_to, screenshot, settle, start_training

pytestmark = pytest.mark.browser

EPOCHS = 2


def test_a_short_run_on_the_generated_shapes_draws_both_curves(page) -> None:
    go_to(page, "Transfer learning")
    choose(page, "Model", "Tiny VGG (classroom)")  # the fast shapes backbone (the default is EfficientNet-Lite0)
    dataset = page.get_by_role("combobox", name="Dataset", exact=True).input_value()
    assert dataset.startswith("generated shapes: ring, arrow, checker")
    page.get_by_test_id("stPlotlyChart").first.wait_for()  # images per class
    page.get_by_text("Backbone: Tiny VGG (classroom)").wait_for()
    epochs = page.get_by_role("slider", name="Epochs")
    epochs.focus()
    for _ in range(int(epochs.get_attribute("aria-valuetext")) - EPOCHS):  # inside a form: no rerun per key
        epochs.press("ArrowLeft")
    assert epochs.get_attribute("aria-valuetext") == str(EPOCHS)
    start_training(page)

    stopped = page.get_by_test_id("stAlertContentError").or_(page.get_by_test_id("stAlertContentWarning"))
    done = page.get_by_test_id("stAlertContentSuccess")
    done.or_(stopped).first.wait_for(timeout=180_000)  # ended, well or not
    page.get_by_test_id("stDataFrame").or_(stopped).first.wait_for()  # the comparison: the page's rerun after the end
    settle(page)
    assert stopped.count() == 0, stopped.all_inner_texts()
    curves = page.get_by_test_id("stPlotlyChart").filter(has_text="Loss (lower is better)").last
    for strategy in ("Feature extraction", "Fine-tuning"):  # Plotly draws the legend after the chart's frame
        curves.locator(".legendtext", has_text=f"{strategy} (train)").wait_for()
    legend = curves.locator(".legendtext").all_text_contents()  # SVG text
    for strategy in ("Feature extraction", "Fine-tuning"):
        assert f"{strategy} (val)" in legend and f"{strategy} (train)" in legend, legend
    lines = curves.locator(".scatterlayer .trace path.js-line")  # one line per strategy, split and panel
    strategies = sum(text.endswith("(val)") for text in legend)  # two, or three with the from-scratch baseline
    assert strategies >= 2 and lines.count() == 4 * strategies
    assert all(lines.nth(i).get_attribute("d") for i in range(lines.count())), "a curve has no points"
    expect(page.get_by_test_id("stAlertContentSuccess")).to_have_count(1)  # waits out a rerun in flight
    assert_no_exception(page)
    screenshot(page, "transfer")
