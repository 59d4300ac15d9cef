"""Every page on EfficientNet-Lite0 with its real ImageNet weights: the app's default on a fresh, offline machine."""

from pathlib import Path

import pytest

from core.config.settings import get_settings
from core.models import efficientnet_lite as lite
from core.transfer.store import read_run
from tests.apptest import open_page, texts
from tests.tiny_datasets import make_dataset
from tests.transfer.test_transfer_page import _wait

CATS = ("tiger cat", "Egyptian cat", "tabby")


def captions(at) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def test_a_fresh_start_shows_real_imagenet_predictions_on_a_photo() -> None:
    at = open_page("zoo")  # nothing chosen: the defaults of a first start
    assert at.selectbox(key="sb_model").value == lite.KEY and at.selectbox(key="sb_sample").value == "cat"
    assert at.title[0].value == "Model zoo: EfficientNet-Lite0" and "untrained" not in texts(at)
    assert [m.value for m in at.metric][:3] == ["4.7 M", "0.385 GFLOPs", "75.1 %"]
    assert "Top-5 of EfficientNet-Lite0 · ImageNet-1K" in texts(at)
    assert any(cat in texts(at) for cat in CATS)
    layers = at.dataframe[0].value
    assert layers.iloc[0]["layer"].startswith("features.0") and not at.error


def test_home_names_the_trained_networks_here() -> None:
    at = open_page("home")
    assert "EfficientNet-Lite0 (ImageNet-1K)" in texts(at) and "Tiny VGG (classroom) (ConvLens shapes)" in texts(at)
    status = dict(zip(at.dataframe[0].value["model"], at.dataframe[0].value["status"], strict=True))
    assert status["EfficientNet-Lite0"] == "ready (shipped with ConvLens)"


def test_filters_feature_maps_and_depth_with_learned_beside_random_kernels() -> None:
    at = open_page("features")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "49 convolutions captured in one forward pass" in texts(at)
    assert at.select_slider(key="fm_layer").value == "features.0.0"
    assert at.segmented_control(key="fm_kview").value == "colour (RGB)"  # the stem's 32 kernels as RGB pictures
    shown = len(at.image)
    at.toggle(key="fm_kinit").set_value(True).run()
    assert not at.exception and len(at.image) == shown + 1
    assert any("untrained: random weights" in c for c in captions(at))
    at.select_slider(key="fm_layer").set_value("features.17.0").run()
    assert not at.exception and not at.error
    assert "Across depth" in texts(at)


def test_grad_cam_defaults_to_the_last_spatial_layer_and_any_layer_works() -> None:
    at = open_page("gradcam")
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key=f"gc_layer_{lite.KEY}").value == "features.17"
    assert "raw map, 7x7" in captions(at)
    assert any(c.startswith(f"Grad-CAM of {cat}") for c in captions(at) for cat in CATS)
    at.selectbox(key=f"gc_layer_{lite.KEY}").set_value("features.6.block.1.0").run()
    assert not at.exception and "raw map, 14x14" in captions(at)
    at.radio(key="gc_method").set_value("saliency").run()
    assert not at.exception and not at.error
    at.radio(key="gc_method").set_value("grad_cam").run()
    at.segmented_control(key="gc_view").set_value("depth").run()
    assert not at.exception and [c for c in captions(at) if c.endswith("7x7")]
    at.segmented_control(key="gc_view").set_value("sanity").run()
    at.button(key="gc_sanity_run").click().run()
    assert not at.exception and not at.error and "After randomising every layer" in texts(at)


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(folder))
    return folder


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a busy shared CPU can be several times slower
def test_transfer_trains_the_three_strategies_and_shows_their_grad_cam(data_dir: Path) -> None:
    make_dataset(data_dir / "insects", {"ants": 8, "bees": 8}, size=40)
    at = open_page("transfer")
    assert at.pills(key="tl_strategies").value == ["feature_extraction", "fine_tuning", "scratch"]
    assert at.select_slider(key="tl_depth").options[-2] == "last 17 of 18 blocks"
    at.select_slider(key="tl_size").set_value(64)
    at.select_slider(key="tl_batch").set_value(8)
    at.select_slider(key="tl_depth").set_value(2)
    at.slider(key="tl_epochs").set_value(1)
    at.button(key="FormSubmitter:tl_form-Train").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    path = get_settings().runs_dir / at.session_state["tl_run_pick"]
    _wait(path, lambda s: not s.active, timeout=300)
    at.run()
    assert read_run(path).status.state == "done" and not at.exception
    table = next(d.value for d in at.dataframe if "strategy" in d.value.columns)
    assert list(table["strategy"]) == ["Feature extraction", "Fine-tuning", "From scratch"]
    assert texts(at).count("map of *") == 3  # Grad-CAM of every trained model side by side
