"""The filters & feature-maps page through AppTest, from the entry file."""

from core.features.capture import ACTIVATIONS
from core.models.loading import get_model
from tests.apptest import open_page, texts
from tests.bad_images import AWKWARD, BAD
from tests.conftest import shared_path

RANDOM = "Random (untrained)"


def _card(at) -> str:
    """The layer's facts line (one caption: tiles took two rows of the first screen)."""
    return next(c.value for c in at.caption if "parameters; maps shown" in c.value)


def test_layer_by_layer_never_reruns_the_model() -> None:
    ACTIVATIONS.clear()
    model = get_model("resnet18", pretrained=False)
    calls = [0]
    handle = model.module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        at = open_page("features", sb_model="resnet18", sb_weights=RANDOM)
        assert calls == [1] and not at.error
        assert "untrained" in texts(at)
        card = _card(at)
        assert "kernel 7x7, stride 2," in card and "output **64×112×112**" in card
        assert "9,408 parameters" in card and "a 7×7 px window" in card
        grid = at.image[0].value

        at.select_slider(key="fm_layer").set_value("layer3.0.conv2").run()
        assert not at.exception and at.selectbox(key="fm_jump").value == "layer3.0.conv2"
        card = _card(at)
        assert "kernel 3x3," in card and "output **256×14×14**" in card and "a 147×147 px window" in card
        assert at.image[0].value != grid
        strongest = next(i.captions[0] for i in at.image if i.captions and i.captions[0].startswith("#"))
        assert at.slider(key="fm_channel").value == int(strongest[1:].split(" ")[0])  # a new layer starts there

        at.selectbox(key="fm_jump").set_value("layer1.0.conv1").run()
        assert at.select_slider(key="fm_layer").value == "layer1.0.conv1"
        at.slider(key="fm_channel").set_value(5).run()
        at.selectbox(key="fm_cmap").set_value("gray").run()
        at.segmented_control(key="fm_norm").set_value("shared").run()
        at.segmented_control(key="fm_order").set_value("most active first").run()
        at.toggle(key="fm_knorm").set_value(True).run()
        at.segmented_control(key="fm_kview").set_value("one filter, per input channel").run()
        at.selectbox(key="fm_kin").set_value(3).run()
        assert not at.exception and not at.error
        assert calls == [1], "changing layer, channel, colormap or normalisation re-ran the model"
    finally:
        handle.remove()


def test_first_layer_filters_are_colour_pictures_and_depthwise_layers_are_named() -> None:
    at = open_page("features", sb_model="mobilenet_v3_small", sb_weights=RANDOM, fm_size=128)
    assert not at.exception and not at.error
    assert at.segmented_control(key="fm_kview").value == "colour (RGB)"
    at.select_slider(key="fm_layer").set_value("features.1.block.0.0").run()
    assert "depthwise" in texts(at) and at.segmented_control(key="fm_kview").value == "averaged over input channels"
    at.select_slider(key="fm_layer").set_value("features.1.block.1.fc1").run()
    assert "sees the whole image" in _card(at) and not at.exception
    at.selectbox(key="sb_model").set_value("resnet18").run()  # another model starts at its own size and layer
    assert at.selectbox(key="fm_size").value == 224 and at.select_slider(key="fm_layer").value == "conv1"


def test_arithmetic_panel_explains_instead_of_failing() -> None:
    at = open_page("features", sb_model="alexnet", sb_weights=RANDOM, fm_size=128)
    for key, value in {"fm_ca_size": 224, "fm_ca_kernel": 11, "fm_ca_stride": 4, "fm_ca_padding": 2}.items():
        at.number_input(key=key).set_value(value).run()
    assert not at.exception and "\\Rightarrow 55" in at.latex[0].value and "(agrees)" in texts(at)
    at.number_input(key="fm_ca_size").set_value(3).run()
    at.number_input(key="fm_ca_padding").set_value(0).run()
    assert not at.exception
    assert any("does not fit" in w.value for w in at.warning)


def test_bad_uploads_give_messages_and_awkward_ones_work() -> None:
    at = open_page("features", sb_model="resnet18", sb_weights=RANDOM, fm_size=128, sb_source="Upload")
    for name, (data, expected) in BAD.items():
        at.session_state["sb_upload_data"] = (f"{name}.png", data)
        at.run()
        assert not at.exception, name
        assert any(expected in e.value for e in at.error), (name, [e.value for e in at.error])
    for name in ("cmyk jpeg", "16-bit png", "animated gif", "exif rotated"):
        at.session_state["sb_upload_data"] = (f"{name}.img", AWKWARD[name][0])
        at.run()
        assert not at.exception and not at.error, (name, [e.value for e in at.error])
        assert "output **64×64×64**" in _card(at), name


def test_a_real_photo_from_shared() -> None:
    data = shared_path("images", "chelsea.png").read_bytes()
    at = open_page(
        "features", sb_model="resnet18", sb_weights=RANDOM, sb_source="Upload", sb_upload_data=("chelsea.png", data)
    )
    assert not at.exception and not at.error
    assert "chelsea.png" in texts(at) and len(at.image) >= 10


def test_two_sessions_on_one_layer_encode_its_pictures_once() -> None:
    from core.serving.pictures import PICTURES

    PICTURES.clear()
    first = open_page("features", sb_model="resnet18", sb_weights=RANDOM, fm_size=128)
    drawn = PICTURES.stats()["misses"]
    assert drawn >= 11  # the grid, the 8 strongest channels, one channel enlarged and over the image
    second = open_page("features", sb_model="resnet18", sb_weights=RANDOM, fm_size=128)
    assert not second.exception and PICTURES.stats()["misses"] == drawn
    assert [i.value for i in second.image] == [i.value for i in first.image]
    second.selectbox(key="fm_cmap").set_value("gray").run()  # another colormap: every map is drawn anew
    assert PICTURES.stats()["misses"] >= drawn + 11 and second.image[0].value != first.image[0].value
