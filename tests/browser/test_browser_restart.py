"""An upload outlives the server: upload on the zoo page, stop the server, start it again, refresh."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from bench.serve import offline_env, serve
from core.io import sample_images
from tests.browser.helpers import assert_no_exception, go_to, settle

pytestmark = pytest.mark.browser
IN_USE = "In use: uploaded my cat.png"


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, device_scale_factor=1)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(url)
    settle(page)
    return context, page


def test_an_upload_is_still_the_image_source_after_a_server_restart(browser, tmp_path: Path) -> None:
    env = offline_env(tmp_path / "home")
    photo = tmp_path / "my cat.png"
    photo.write_bytes(sample_images()["cat"].read_bytes())
    with serve("dashboard/app.py", env, tmp_path / "first.log") as (url, _):
        context, page = _open(browser, url)
        go_to(page, "Model zoo")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_test_id("stButtonGroup").get_by_text("Upload", exact=True).click()
        settle(page)
        sidebar.locator("input[type=file]").set_input_files(str(photo))
        sidebar.get_by_text(IN_USE).wait_for()
        settle(page)
        address = page.url  # carries this browser's id (?owner=...)
        context.close()
    assert "owner=" in address
    with serve("dashboard/app.py", env, tmp_path / "second.log") as (url, _):  # a new process, another port
        context, page = _open(browser, urlunsplit(urlsplit(address)._replace(netloc=urlsplit(url).netloc)))
        page.get_by_test_id("stSidebar").get_by_text(IN_USE).wait_for()
        assert page.get_by_test_id("stMain").get_by_text("Upload an image").count() == 0
        assert_no_exception(page)
        context.close()
