"""AppTest of the two sections of issue 14 on their pages: the live convolution and the embedding map."""

from pathlib import Path

import pytest

from core.live_conv import TRACES
from core.models import get_model
from tests.apptest import open_page, texts
from tests.tiny_datasets import make_dataset

RANDOM = "Random (untrained)"


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_the_live_convolution_equals_the_model_and_moving_the_unit_never_reruns_it() -> None:
    TRACES.clear()
    model = get_model("resnet18", pretrained=False)
    at = open_page("features", sb_model="resnet18", sb_weights=RANDOM, fm_size=128)
    at.select_slider(key="fm_layer").set_value("layer1.0.conv1").run()
    calls = [0]
    handle = model.module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        at.toggle(key="fm_live").set_value(True).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert calls == [1]
        shown = _metrics(at)
        assert shown["Value computed here"] == shown["The model's value"]
        steps = list(at.dataframe[-1].value["step"])
        assert steps[0].startswith("convolution") and steps[1].startswith("BatchNorm2d: (")
        assert steps[2].startswith("ReLU: max(0, ")
        for row, col in ((0, 0), (31, 31), (5, 17)):  # corners: the kernel over the padding
            at.slider(key="fm_live_row").set_value(row)
            at.slider(key="fm_live_col").set_value(col).run()
            shown = _metrics(at)
            assert shown["Value computed here"] == shown["The model's value"], (row, col)
        at.slider(key="fm_channel").set_value(7).run()
        options = at.selectbox(key="fm_live_in").options
        at.selectbox(key="fm_live_in").select_index(len(options) - 1).run()
        assert len(options) == 64 and not at.exception and not at.error
        assert calls == [1], "moving the unit or the channel re-ran the model"
        at.select_slider(key="fm_layer").set_value("layer1.0.conv2").run()
        assert calls == [2] and "shortcut was added" in texts(at)
        at.select_slider(key="fm_layer").set_value("conv1").run()  # then max-pooling, shown with its window
        assert list(at.dataframe[-1].value["step"])[-1].startswith("MaxPool2d over a 3×3 window")
        assert calls == [3] and not at.exception and not at.error
    finally:
        handle.remove()


@pytest.fixture
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(folder))
    return folder


def test_the_embedding_map_compares_pretrained_and_random_backbones(data_dir: Path) -> None:
    make_dataset(data_dir / "<i>bugs", {"<b>ants": 8, "bees": 8}, {"<b>ants": 4, "bees": 4}, size=40)
    at = open_page("transfer", sb_model="tiny_vgg")
    assert "Map the features" in at.button(key="tl_emb_go").label and "5-NN accuracy (val)" not in _metrics(at)
    at.selectbox(key="tl_emb_size").set_value(96)
    at.button(key="tl_emb_go").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    scores = [m.value for m in at.metric if m.label == "5-NN accuracy (val)"]
    assert len(scores) == 2 and all(s.endswith("%") for s in scores)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    maps = [s for s in specs if "5-NN" in s]
    assert len(maps) == 2
    assert all("&lt;b&gt;ants" in s and "<b>ants" not in s for s in maps), maps[0][:1500]
    at.segmented_control(key="tl_emb_method").set_value("PCA").run()
    assert not at.exception and sum("of variance" in c.proto.spec for c in at.get("plotly_chart")) == 2
