"""Real-browser fixtures: the app served by `streamlit run` and headless Chromium driving it.

The tests skip, saying why, when Chromium or Playwright is missing (`make test` installs
Chromium where it can). Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.serve import offline_env, serve
from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a free localhost port, offline, with its folders in a temporary place."""
    home = tmp_path_factory.mktemp("browser_home")
    with serve("dashboard/app.py", offline_env(home), home / "server.log") as (url, _process):
        yield url


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"Chromium is not installed at {CHROMIUM} (Debian package 'chromium'; `make test` installs it as root)"
        )
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-dev.txt")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_server: str):
    """A fresh browser session (its own Streamlit session) on the app's home page."""
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, device_scale_factor=1)
    tab = context.new_page()
    tab.set_default_timeout(120_000)
    tab.goto(app_server)
    tab.get_by_role("heading", name="ConvLens: see what convolutional networks do").wait_for()
    yield tab
    context.close()
