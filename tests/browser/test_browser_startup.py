"""`make run`'s launcher in a real browser: `python -m dashboard` serves the app and warms it up as it starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.serve import offline_env, serve
from tests.browser.conftest import SCREENSHOTS
from tests.browser.helpers import assert_no_exception

pytestmark = pytest.mark.browser


def test_python_m_dashboard_serves_the_zoo_with_the_warmed_answer(browser, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with serve("unused", offline_env(tmp_path), log, launcher=(sys.executable, "-m", "dashboard")) as (url, _):
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(url + "/zoo")
        page.locator("text=Top-5 of >> visible=true").first.wait_for()  # the worksheet keeps a hidden copy
        assert page.get_by_role("heading", name="Model zoo: EfficientNet-Lite0").is_visible()
        assert_no_exception(page)
        page.locator(".js-plotly-plot").first.wait_for()  # the top-5 chart drawn
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / "startup_zoo.png")
        context.close()
    server_log = log.read_text()
    assert "ConvLens warm-up done" in server_log, server_log[-2000:]
    assert "failed" not in server_log
