"""The filters page's live-convolution tab through AppTest: its numbers equal the model's; moving the unit is free."""

from core.features.live_conv import TRACES
from core.models.loading import get_model
from tests.apptest import open_page, texts

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
        charts = len(at.get("plotly_chart"))  # the clickable map, the sum, the patch: no animation until asked
        at.toggle(key="fm_live_play").set_value(True).run()
        assert len(at.get("plotly_chart")) == charts + 1 and not at.exception
        assert calls == [1], "moving the unit or the channel re-ran the model"
        at.select_slider(key="fm_layer").set_value("layer1.0.conv2").run()
        assert calls == [2] and "shortcut was added" in texts(at)
        at.select_slider(key="fm_layer").set_value("conv1").run()  # then max-pooling, shown with its window
        assert list(at.dataframe[-1].value["step"])[-1].startswith("MaxPool2d over a 3×3 window")
        assert calls == [3] and not at.exception and not at.error
    finally:
        handle.remove()
