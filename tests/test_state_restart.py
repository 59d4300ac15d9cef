"""Uploads kept on the server for a browser survive a server restart (they are kept under the app's home)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.config.settings import get_settings
from core.io import sample_images
from tests.apptest import ENTRY, open_page, texts

RANDOM = "Random (untrained)"


def test_an_upload_survives_a_server_restart() -> None:
    data = sample_images()["cat"].read_bytes()
    at = open_page("zoo", sb_weights=RANDOM, sb_source="Upload")
    at.file_uploader(key="sb_upload").set_value(("my cat.png", data, "image/png")).run()
    assert not at.exception and "my cat.png" in texts(at)
    kept = [p for p in (get_settings().home / "browsers").rglob("*") if p.is_file()]
    token = at.query_params["owner"]  # this browser's secret id: never a path on the server
    assert kept and all("cat" not in p.name and token not in str(p) for p in kept)

    from dashboard import state  # imported by the app's run (importing it first would skip the app's loading)

    state._browser_store_in.clear()  # the server restarts: what it held in memory is gone, its folder stays
    refreshed = AppTest.from_file(ENTRY, default_timeout=120)  # the browser refreshes: the same URL
    refreshed.query_params.update(at.query_params)
    refreshed.run()
    refreshed.switch_page("app_pages/zoo.py").run()
    assert not refreshed.exception
    assert refreshed.segmented_control(key="sb_source").value == "Upload"
    assert "my cat.png" in texts(refreshed) and "Top-5 of" in texts(refreshed)
