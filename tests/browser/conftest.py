"""Real-browser fixtures: the app served by `streamlit run` and headless Chromium driving it.

The tests skip, saying why, when Chromium or Playwright is missing (`make test` installs
Chromium where it can). Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.serve import CHROMIUM, CHROMIUM_ARGS, offline_env, serve
from tests.conftest import ROOT, SHARED

SCREENSHOTS = ROOT / "artifacts" / "screenshots"


# Detection models from ../shared that the server finds in its weights folder, when they are here.
SHARED_MODELS = ("yolov8n_int8_openvino_model",)


def weights_folder(home: Path) -> Path:
    """The server's weights folder under its temporary home, with links to the shared detection models.

    Never the repository's or the user's folders: the links live in the temporary home only.
    """
    folder = home / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    for name in SHARED_MODELS:
        if (SHARED / "weights" / name).is_dir():
            (folder / name).symlink_to((SHARED / "weights" / name).resolve(), target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app on a free localhost port, offline, with its folders in a temporary place.

    Its weights folder links the shared detection model (see :func:`weights_folder`); folders set
    in the caller's environment (CONVLENS_DATA_DIR, ...) are not inherited.
    """
    home = tmp_path_factory.mktemp("browser_home")
    env = offline_env(home)
    for var in ("CONVLENS_DATA_DIR", "CONVLENS_RUNS_DIR", "CONVLENS_DEVICE"):
        env.pop(var, None)
    env["CONVLENS_WEIGHTS_DIR"] = str(weights_folder(home))
    with serve("dashboard/app.py", env, home / "server.log") as (url, _process):
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
