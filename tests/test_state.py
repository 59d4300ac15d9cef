"""Settings that survive: pages that do not draw them, a new session opened from the URL, and a reset.

AppTest runs the real entry file and Streamlit's own session state (widgets not drawn in a
run are forgotten exactly as in the server), so these show the teacher's complaints fixed.
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.io import sample_images
from tests.apptest import ENTRY, open_page, shown, texts
from tests.tiny_datasets import make_dataset

RANDOM = "Random (untrained)"


def _sidebar(at: AppTest) -> tuple:
    return (
        at.selectbox(key="sb_model").value,
        at.segmented_control(key="sb_weights").value,
        at.selectbox(key="sb_sample").value,
    )


def test_the_yolo_page_leaves_the_sidebar_as_it_was() -> None:
    at = open_page("zoo")
    at.selectbox(key="sb_model").set_value("resnet18").run()
    at.segmented_control(key="sb_weights").set_value(RANDOM).run()
    at.selectbox(key="sb_sample").set_value("coffee").run()
    assert _sidebar(at) == ("resnet18", RANDOM, "coffee")
    at.switch_page("app_pages/detection.py").run()
    at.run()  # a second run on the page without the sidebar: Streamlit has forgotten the widgets by now
    at.switch_page("app_pages/zoo.py").run()
    assert not at.exception
    assert _sidebar(at) == ("resnet18", RANDOM, "coffee")
    assert "Top-5 of ResNet-18 · untrained" in texts(at)
    # ... and the URL carries it, for a refresh or a shared link
    assert {k: at.query_params[k] for k in ("model", "weights", "sample")} == {
        "model": "resnet18",
        "weights": "random",
        "sample": "coffee",
    }


def test_a_page_keeps_its_own_settings_and_reset_puts_them_back() -> None:
    at = open_page("gradcam", sb_model="resnet18", sb_weights=RANDOM)
    at.slider(key="gc_alpha").set_value(0.8).run()
    at.selectbox(key="gc_cmap").set_value("viridis").run()
    at.switch_page("app_pages/zoo.py").run()
    at.run()
    at.switch_page("app_pages/gradcam.py").run()
    assert (at.slider(key="gc_alpha").value, at.selectbox(key="gc_cmap").value) == (0.8, "viridis")
    assert at.query_params["opacity"] == "0.8"
    at.button(key="gc_reset").click().run()
    assert (at.slider(key="gc_alpha").value, at.selectbox(key="gc_cmap").value) == (0.5, "jet")
    assert "opacity" not in at.query_params and at.query_params["model"] == "resnet18"  # the sidebar stays


def test_a_link_opens_the_view_and_bad_values_are_ignored_with_a_message() -> None:
    at = AppTest.from_file(ENTRY, default_timeout=120)
    at.query_params.update(
        {"model": "resnet18", "weights": "random", "sample": "rocket", "channel": "<b>x</b>", "opacity": "7"}
    )
    at.run()
    raw = [w.value for w in at.warning]  # on the first page opened
    assert any(r"\<b\>" in w for w in raw), raw  # the link's text is escaped, never HTML
    warnings = [shown([w]) for w in raw]
    assert any("?channel=<b>x</b> is not a whole number" in w for w in warnings), warnings
    assert any("?opacity=7 is outside" in w for w in warnings), warnings
    at.switch_page("app_pages/zoo.py").run()
    assert not at.exception
    assert _sidebar(at) == ("resnet18", RANDOM, "rocket")
    assert any(shown(i.captions) == "sample: rocket" for i in at.image if i.captions)


def test_an_upload_survives_a_refresh_of_the_same_browser_only() -> None:
    data = sample_images()["cat"].read_bytes()
    at = open_page("zoo", sb_weights=RANDOM, sb_source="Upload")
    assert "owner" not in at.query_params  # nothing kept yet: the URL carries no browser id
    at.file_uploader(key="sb_upload").set_value(("my cat.png", data, "image/png")).run()
    assert not at.exception and "my cat.png" in texts(at)
    assert at.query_params["owner"]  # the browser id that finds the upload again
    link = next(c.value for c in at.code if "weights=random" in c.value)  # "Share this view"
    assert "owner" not in link and "image=upload" in link  # the settings, never this browser's id

    refreshed = AppTest.from_file(ENTRY, default_timeout=120)  # a refresh: a new session, the same URL
    refreshed.query_params.update(at.query_params)
    refreshed.run()
    refreshed.switch_page("app_pages/zoo.py").run()
    assert refreshed.segmented_control(key="sb_source").value == "Upload"
    assert "my cat.png" in texts(refreshed) and "Top-5 of" in texts(refreshed)

    stranger = AppTest.from_file(ENTRY, default_timeout=120)  # the same link without the id: not the upload
    stranger.query_params.update({k: v for k, v in at.query_params.items() if k != "owner"})
    stranger.run()
    stranger.switch_page("app_pages/zoo.py").run()
    assert "my cat.png" not in texts(stranger) and "Upload an image" in texts(stranger)


def test_a_camera_snapshot_is_an_image_source(tmp_path: Path) -> None:
    at = open_page("zoo", sb_weights=RANDOM, sb_source="Camera")
    assert "Take a snapshot" in texts(at)
    shot = sample_images()["coffee"].read_bytes()
    at.camera_input(key="sb_camera").set_value(("photo.jpg", shot, "image/jpeg")).run()
    assert not at.exception and "camera snapshot" in texts(at)
    assert "Top-5 of" in texts(at)
    at.switch_page("app_pages/detection.py").run()
    at.switch_page("app_pages/zoo.py").run()
    assert "camera snapshot" in texts(at)  # the snapshot survives the page switch


def test_offline_says_so_before_the_download_button_is_pressed() -> None:
    at = open_page("zoo", sb_model="resnet18")  # tests run offline (CONVLENS_OFFLINE=1)
    assert "No download is possible: this server is set to work offline" in texts(at)
    download = next(b for b in at.button if b.label.startswith("Download the weights"))
    assert download.disabled


def test_a_failed_download_stays_on_screen_across_reruns(monkeypatch) -> None:
    monkeypatch.delenv("CONVLENS_OFFLINE")  # no route from the test machine: the probe finds it out
    at = open_page("zoo", sb_model="resnet18")
    at.session_state["ui_download_error"] = ("resnet18", "Downloading the weights failed: no route to host")
    at.run()
    at.run()
    assert "Downloading the weights failed: no route to host" in shown(e.value for e in at.error)


def test_the_transfer_forms_epochs_survive_a_page_switch(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(tmp_path / "data"))
    make_dataset(tmp_path / "data" / "insects", {"ants": 6, "bees": 6}, size=32)
    at = open_page("transfer", sb_weights=RANDOM)
    at.select_slider(key="tl_size").set_value(64)
    at.slider(key="tl_epochs").set_value(3)  # a form: its values count once Train is pressed
    at.button(key="FormSubmitter:tl_form-Train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.switch_page("app_pages/zoo.py").run()
    at.run()
    at.switch_page("app_pages/transfer.py").run()
    assert not at.exception
    assert (at.slider(key="tl_epochs").value, at.select_slider(key="tl_size").value) == (3, 64)
    assert at.query_params["epochs"] == "3"
    if any(b.key == "tl_cancel" for b in at.button):  # the run itself is not what this test is about
        at.button(key="tl_cancel").click().run()
