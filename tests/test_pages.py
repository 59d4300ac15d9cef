"""One AppTest smoke test per page, from the entry file, checking real values."""

import pytest

from tests.apptest import open_page, texts

PAGES = ["home", "zoo", "features", "units", "gradcam", "transfer", "detection", "det_lab"]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_without_exception(page: str) -> None:
    at = open_page(page, sb_weights="Random (untrained)")
    assert at.title, f"{page} has no title"
    assert not at.error, [e.value for e in at.error]


def test_home_lists_weights_status_and_device() -> None:
    at = open_page("home")
    assert at.metric[0].value == "CPU"
    status = dict(zip(at.dataframe[0].value["model"], at.dataframe[0].value["status"], strict=True))
    assert status["ResNet-18"] == "not downloaded"  # no ImageNet weights in the tests' torch hub cache
    assert status["Tiny VGG (classroom)"] == "ready (shipped with ConvLens)"


def test_zoo_offline_explains_missing_weights_then_random_weights_predict() -> None:
    at = open_page("zoo", sb_model="resnet18")
    assert "resnet18-f37072fd.pth" in texts(at)
    assert [m.value for m in at.metric][:4] == ["11.7 M", "1.81 GFLOPs", "69.8 %", "89.1 %"]
    at.button(key="rand_resnet18").click().run()
    assert not at.exception
    assert "untrained" in texts(at) and "Top-5 of ResNet-18 · untrained" in texts(at)
    layers = at.dataframe[0].value
    assert layers.iloc[0]["layer"] == "conv1" and layers.iloc[0]["output"] == "64 x 112 x 112"


def test_zoo_model_switch_updates_the_card() -> None:
    at = open_page("zoo", sb_weights="Random (untrained)")
    at.selectbox(key="sb_model").set_value("mobilenet_v3_small").run()
    assert not at.exception
    assert at.title[0].value == "Model zoo: MobileNetV3-Small"
    assert at.metric[0].value == "2.5 M"


def test_uploaded_bad_image_gives_a_message() -> None:
    at = open_page(
        "zoo",
        sb_weights="Random (untrained)",
        sb_source="Upload",
        sb_upload_data=("notes.jpg", b"plain text, not a JPEG" * 20),
    )
    assert not at.exception
    assert any("not an image" in e.value for e in at.error)
