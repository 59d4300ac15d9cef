"""The transfer-learning page through Streamlit's AppTest, started from the entry file."""

import re
import time
from pathlib import Path

import pytest

from core.config.settings import get_settings
from core.transfer.store import read_status
from tests.apptest import open_page, texts
from tests.tiny_datasets import dataset_zip, image_bytes, make_dataset, zip_bytes

RANDOM = "Random (untrained)"


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(folder))
    return folder


def test_without_data_the_page_says_where_to_put_it() -> None:
    at = open_page("transfer", sb_weights=RANDOM)
    assert str(get_settings().data_dir) in texts(at) and "hymenoptera_data.zip" in texts(at)
    assert "No runs yet" in texts(at)
    assert not at.error


def test_the_dataset_is_shown_before_training(data_dir: Path) -> None:
    root = make_dataset(data_dir / "insects", {"ants": 30, "bees": 10})
    (root / "ants" / "notes.txt").write_text("not an image")
    at = open_page("transfer", sb_weights=RANDOM, sb_model="resnet18")
    assert [m.value for m in at.metric][:4] == ["2", "32", "8", "1"]
    assert "unbalanced" in texts(at) and "always answering 'ants' already scores 75%" in texts(at)
    assert list(at.dataframe[0].value["file"]) == ["ants/notes.txt"]
    assert at.select_slider(key="tl_size").value == 160  # the zoo's 224 px, made lighter for a CPU


def test_a_single_class_dataset_gives_a_message_and_the_page_goes_on(data_dir: Path) -> None:
    make_dataset(data_dir / "cats", {"cats": 5})
    at = open_page("transfer", sb_weights=RANDOM)
    assert any("at least 2 classes" in e.value for e in at.error)
    assert not at.exception and "No runs yet" in texts(at)


def test_an_uploaded_zip_is_unpacked_checked_and_chosen() -> None:
    at = open_page("transfer", sb_weights=RANDOM)
    evil = zip_bytes({"d/a/1.png": image_bytes(0, 1), "../../evil.png": image_bytes(1, 1)})
    at.file_uploader(key="tl_upload").set_value(("evil.zip", evil, "application/zip")).run()
    at.button(key="tl_unpack").click().run()
    assert any("outside the dataset folder" in e.value for e in at.error) and not at.exception
    at.file_uploader(key="tl_upload").set_value(("bugs.zip", dataset_zip(), "application/zip")).run()
    at.button(key="tl_unpack").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    chosen = Path(at.selectbox(key="tl_dataset").value)
    assert chosen.parent == get_settings().uploads_dir and chosen.name.startswith("bugs-")
    assert [m.value for m in at.metric][:3] == ["2", "6", "2"]


def _wait(path: Path, ready, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready(read_status(path)):
        assert time.monotonic() < deadline, read_status(path)
        time.sleep(0.1)


@pytest.mark.slow
def test_train_watch_reattach_cancel_and_compare(data_dir: Path) -> None:
    # Enough images that 40 epochs take many seconds: time to watch, refresh and cancel mid-run.
    make_dataset(data_dir / "insects", {"ants": 40, "bees": 40}, size=40)
    at = open_page("transfer", sb_weights=RANDOM, sb_model="mobilenet_v3_small")
    at.select_slider(key="tl_size").set_value(64)
    at.select_slider(key="tl_batch").set_value(8)
    at.slider(key="tl_epochs").set_value(40)  # ample time to refresh and cancel
    at.button(key="FormSubmitter:tl_form-Train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    path = get_settings().runs_dir / at.session_state["tl_run_pick"]
    _wait(path, lambda s: s.strategy == "fine_tuning" and s.phase.startswith("epoch ") and s.phase != "epoch 1")

    at.run()  # what the polling fragment draws while the run trains
    progress = at.get("progress")[0]
    # The worker trains on while the page draws: any fine-tuning epoch from the 2nd on is right.
    assert 0.5 < progress.value / 100 < 1 and re.search(r"Fine-tuning: epoch \d+\b", progress.proto.text)
    assert at.get("plotly_chart")  # live curves

    fresh = open_page("transfer", sb_weights=RANDOM, sb_model="mobilenet_v3_small")  # a refreshed browser
    assert fresh.selectbox(key="tl_run_pick").value == path.name and fresh.get("progress")

    at.button(key="tl_cancel").click().run()
    _wait(path, lambda s: not s.active, timeout=60)
    at.run()
    assert not at.exception
    assert "Cancelled by the user during fine-tuning" in texts(at)
    table = next(d.value for d in at.dataframe if "strategy" in d.value.columns)
    assert list(table["strategy"]) == ["Feature extraction", "Fine-tuning"]
    first, second = table["epochs"]
    assert first == "40 of 40" and second.endswith("of 40") and second != "40 of 40"
    assert texts(at).count("map of *") == 2  # Grad-CAM of both trained models side by side
    assert "wrong; the most confident mistakes first" in texts(at)
