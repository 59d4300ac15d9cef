"""In front of a class, through AppTest from the entry file: lessons, presenter mode, compare, honest notes."""

from tests.apptest import open_page
from tests.apptest import texts as all_texts

RANDOM = "Random (untrained)"


def texts(at) -> str:
    """The page's text as read (bold markers removed)."""
    return all_texts(at).replace("**", "")


def test_a_lesson_opens_its_page_with_its_settings_asks_then_reveals() -> None:
    at = open_page("home")
    at.selectbox(key="ls_lesson").set_value("1_edges_to_objects").run()
    at.button(key="ls_start").click().run()
    assert not at.exception
    assert at.title[0].value == "Filters & feature maps"
    assert at.select_slider(key="fm_layer").value == "features.conv_1_1"
    assert at.session_state["sb_sample"] == "shape star" and at.session_state["sb_model"] == "tiny_vgg"
    assert "Step 1 of 3." in texts(at) and "Edges and flat areas" not in texts(at)
    at.button(key="ls_reveal").click().run()
    assert "Edges and flat areas of the star" in texts(at)
    at.button(key="ls_next").click().run()
    assert not at.exception and "Step 2 of 3." in texts(at)
    assert at.select_slider(key="fm_layer").value == "features.conv_2_2"
    assert "Edges and flat areas" not in texts(at), "a new step starts unrevealed"
    at.button(key="ls_back").click().run()
    assert at.select_slider(key="fm_layer").value == "features.conv_1_1"


def test_a_lesson_step_sets_the_grad_cam_view_and_the_yolo_threshold() -> None:
    at = open_page("home")
    at.selectbox(key="ls_lesson").set_value("2_where_the_network_looks").run()
    at.button(key="ls_start").click().run()
    at.button(key="ls_next").click().run()
    assert not at.exception and at.title[0].value == "Grad-CAM & attributions"
    assert at.segmented_control(key="gc_view").value == "top3"
    at.selectbox(key="ls_lesson").set_value("4_how_yolo_decides").run()
    at.button(key="ls_start").click().run()
    at.button(key="ls_next").click().run()
    assert not at.exception and at.title[0].value == "YOLO detection"
    assert at.session_state["det_conf"] == 0.05  # (no YOLO model offline here: the slider reads it when one is)


def test_presenter_mode_adds_what_to_notice_and_views_hide_controls_they_ignore() -> None:
    at = open_page("gradcam", sb_model="tiny_vgg")
    assert "Notice where the red is" not in str([h.proto.body for h in at.get("html")])
    at.toggle(key="sb_presenter").set_value(True).run()
    assert not at.exception
    assert "Notice where the red is" in str([h.proto.body for h in at.get("html")])
    assert [r.label for r in at.radio] == ["Top-5 predictions", "Method"]
    at.segmented_control(key="gc_view").set_value("top3").run()  # the top-3 view explains its own three classes
    assert not at.exception and "Top-5 predictions" not in [r.label for r in at.radio]
    assert "share one colour scale" in texts(at) and at.toggle(key="gc_own_scale").value is False
    at.segmented_control(key="gc_view").set_value("depth").run()  # layer by layer picks its own layers
    assert not at.exception and "Layer" not in [s.label for s in at.selectbox]


def test_the_shapes_model_says_what_it_knows_and_compare_shows_two_models() -> None:
    at = open_page("zoo", sb_model="tiny_vgg", sb_sample="cat")
    assert "This model only knows: circle, square, triangle, star, cross, stripes." in texts(at)
    at.toggle(key="zoo_compare").set_value(True).run()
    at.selectbox(key="zoo_compare_model").set_value("mobilenet_v3_small").run()
    assert not at.exception
    assert "Top-5 of MobileNetV3-Small · untrained on sample: cat: most likely" in texts(
        at
    )  # no weights offline: random, and it says so
    assert "Top-5 of Tiny VGG (classroom) · ConvLens shapes on sample: cat: most likely" in texts(at)
    at = open_page("gradcam", sb_model="tiny_vgg", sb_sample="cat")
    at.toggle(key="gc_compare").set_value(True).run()
    at.selectbox(key="gc_compare_model").set_value("mobilenet_v3_small").run()
    assert not at.exception
    captions = [c for i in at.image for c in (i.captions or [])]
    assert any(c.startswith("MobileNetV3-Small · untrained: Grad-CAM of ") for c in captions), captions


def test_random_weights_say_so_in_the_zoo_facts() -> None:
    at = open_page("zoo", sb_weights=RANDOM, sb_model="resnet18")
    assert "(ImageNet-1K, published, for the pretrained weights, not these random ones)" in texts(at)


def test_pictures_made_with_random_weights_go_to_the_worksheet_stamped_untrained() -> None:
    import base64
    import io
    import re

    import numpy as np
    from PIL import Image

    from dashboard.exports import _worksheet

    at = open_page("gradcam", sb_model="tiny_vgg", sb_weights=RANDOM)
    assert not at.exception
    items = list(at.session_state["ws_entries"].values())
    assert items and all(i.untrained for i in items)
    assert any(
        i.title.startswith("Grad-CAM of ") and "model: Tiny VGG (classroom) · untrained" in i.facts for i in items
    )
    html = _worksheet(items)
    for data in re.findall(r"base64,([A-Za-z0-9+/=]+)'", html):
        card = np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(int)
        assert card.shape[1] >= 800
        red = (np.abs(card - np.array([190, 20, 20])).sum(axis=2) < 30).sum()
        assert red > 200, "the slide does not say UNTRAINED in red"
