"""The live convolution in a real browser: a click on the feature map picks the unit, the sliders follow."""

import pytest

from tests.browser.helpers import assert_no_exception, choose, go_to, screenshot, settle, step_slider

pytestmark = pytest.mark.browser

_MAP = (
    "[...document.querySelectorAll('.js-plotly-plot')].find(g => (g.layout.title?.text || '').includes('click a unit'))"
)


def _unit(page) -> tuple[int, int]:
    row, col = (
        page.get_by_role("slider", name=name).get_attribute("aria-valuetext") for name in ("Unit row", "Unit column")
    )
    return int(row), int(col)


def _wait_for_unit(page, unit: tuple[int, int], seconds: float = 30) -> None:
    """Wait until the sliders show ``unit`` (a click reruns the script once the chart reports it)."""
    for _ in range(int(seconds * 4)):
        if _unit(page) == unit:
            break
        page.wait_for_timeout(250)
    settle(page)


def _box(page) -> tuple[float, float]:
    """The centre (row, col) of the box the map draws around the picked unit."""
    return tuple(
        page.evaluate(
            f"() => {{ const s = ({_MAP}).layout.shapes[0]; return [(s.y0 + s.y1) / 2, (s.x0 + s.x1) / 2]; }}"
        )
    )


def _click_cell(page, row: int, col: int) -> None:
    """Click the middle of cell (row, col) of the map, where a user would."""
    x, y = page.evaluate(
        f"""() => {{
            const g = {_MAP}, box = g.getBoundingClientRect(), xa = g._fullLayout.xaxis, ya = g._fullLayout.yaxis;
            return [box.left + xa._offset + xa.l2p({col}), box.top + ya._offset + ya.l2p({row})];
        }}"""
    )
    page.mouse.click(x, y)
    settle(page)


def test_a_click_on_the_map_picks_the_unit_and_the_sliders_follow(page) -> None:
    go_to(page, "Filters & feature maps")
    choose(page, "Model", "Tiny VGG (classroom)")  # small and fast (the default is EfficientNet-Lite0)
    page.get_by_role("tab", name="The convolution, live").click()
    page.get_by_text("Compute this layer live").click()
    settle(page)
    page.wait_for_function(f"() => {_MAP} && ({_MAP})._fullLayout")
    start = _unit(page)
    assert _box(page) == start
    size = int(page.evaluate(f"() => ({_MAP}).layout.yaxis.range[0] + 0.5"))  # rows of the map
    target = (1, 2) if start != (1, 2) else (size - 2, 1)
    _click_cell(page, *target)
    _wait_for_unit(page, target)  # the click moved the sliders
    assert _unit(page) == target
    page.get_by_text(f"What unit ({target[0]}, {target[1]}) sees").wait_for()
    page.wait_for_function(f"() => ({_MAP}).layout.shapes[0].x0 === {target[1] - 0.5}")
    step_slider(page, "Unit column")  # and the slider moves the box on the map
    moved = (target[0], target[1] + 1)
    assert _unit(page) == moved
    page.wait_for_function(f"() => ({_MAP}).layout.shapes[0].x0 === {moved[1] - 0.5}")
    assert _box(page) == moved
    assert_no_exception(page)
    screenshot(page, "features_live_pick")
