"""Filters & feature maps in a real browser: a teacher steps through the layers and looks at the filters."""

import pytest

from tests.browser.helpers import (
    assert_images_not_blank,
    assert_no_exception,
    choose,
    go_to,
    image_bytes,
    image_with_caption,
    options_of,
    pick,
    screenshot,
    step_slider,
)

pytestmark = pytest.mark.browser

LAYER_SLIDER = "Layer by layer: "  # then the number of convolutions


def layer_shown(page) -> str:
    return page.get_by_role("slider", name=LAYER_SLIDER).get_attribute("aria-valuetext")


def feature_grid(page, layer: str):
    """The picture of every feature map of ``layer`` (its caption names the layer)."""
    return image_with_caption(page, f" maps of {layer} (")


def test_step_through_the_layers_and_see_the_filters(page) -> None:
    go_to(page, "Filters & feature maps")
    choose(page, "Sample image", "coffee")
    # The default model is the first trained one here (core.models.default_key: EfficientNet-Lite0's
    # weights install with ConvLens; Tiny VGG where they do not): any of them will do.
    page.get_by_text("on sample: coffee:").wait_for()
    layers = options_of(page, "Jump to a layer")
    assert len(layers) >= 3 and layer_shown(page) == layers[0]
    first = image_bytes(page, feature_grid(page, layers[0]))
    assert_images_not_blank(page, minimum=10)

    step_slider(page, LAYER_SLIDER)  # one layer deeper with the slider
    assert layer_shown(page) == layers[1]
    assert page.get_by_role("combobox", name="Jump to a layer").input_value() == layers[1]
    second = image_bytes(page, feature_grid(page, layers[1]))
    assert second != first

    choose(page, "Jump to a layer", layers[-1])  # the deepest layer from the jump list
    assert layer_shown(page) == layers[-1]
    deepest = image_bytes(page, feature_grid(page, layers[-1]))
    assert deepest not in (first, second)
    assert_images_not_blank(page)
    screenshot(page, "features_maps")

    page.get_by_role("tab", name="Filters").click()
    filters = page.get_by_test_id("stTabPanel").filter(has_text="Input channel")
    image_with_caption(page, f"{layers[-1]}: ", scope=filters)  # every filter of the layer
    filters.get_by_test_id("stPlotlyChart").wait_for()  # one filter's weights as a heatmap
    assert_no_exception(page)
    screenshot(page, "features_filters")


def test_resnet18_with_random_weights(page) -> None:
    go_to(page, "Filters & feature maps")
    choose(page, "Model", "ResNet-18")
    pick(page, "Weights", "Random (untrained)")
    page.get_by_text("random weights (untrained)").wait_for()
    feature_grid(page, "conv1")
    assert_images_not_blank(page, minimum=10)
    page.get_by_role("tab", name="Filters").click()
    image_with_caption(page, "conv1: 64 filters, colour (RGB)")
    assert_no_exception(page)
    screenshot(page, "features_resnet18_random")
