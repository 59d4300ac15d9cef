"""The Grad-CAM page, driven from the entry file: defaults, caching, views, buttons."""

import pytest
import streamlit as st

from core.io.assets import sample_images
from core.io.images import load_image
from core.models.classification import classify
from core.models.loading import get_model
from core.serving import inference as serving
from dashboard.sidebar import RANDOM
from tests.apptest import open_page, texts

STATE = {"sb_model": "resnet18", "sb_weights": RANDOM, "sb_sample": "cat"}


@pytest.fixture(scope="module")
def top():
    """The top-5 of the random-weight ResNet-18 on the cat sample image."""
    return classify(get_model("resnet18", pretrained=False), load_image(sample_images()["cat"]), k=5).top


@pytest.fixture
def explain_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """The targets of every Grad-CAM pass core runs for the page (the shared caches start empty)."""
    st.cache_data.clear()
    serving.GRADCAMS.clear()
    serving.ATTRIBUTIONS.clear()
    calls, real = [], serving.layer_cams

    def spy(module, batch, targets, *args, **kwargs):
        calls.append(tuple(targets))
        return real(module, batch, targets, *args, **kwargs)

    monkeypatch.setattr(serving, "layer_cams", spy)
    return calls


def captions(at) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def test_predicted_class_at_the_last_conv_block_then_sliders_never_recompute(top, explain_calls) -> None:
    at = open_page("gradcam", **STATE)
    assert not at.error, [e.value for e in at.error]
    assert next(r for r in at.radio if r.label == "Top-5 predictions").value == top[0].index
    assert at.selectbox(key="gc_layer_resnet18").value == "layer4.1"
    assert f"Grad-CAM of {top[0].label} ({top[0].probability:.1%}) at the last conv block" in captions(at)
    assert "raw map, 7x7" in captions(at) and at.download_button[0].label == "Overlay (PNG)"
    first = at.image[0].value
    at.slider(key="gc_alpha").set_value(0.9).run()
    at.selectbox(key="gc_cmap").set_value("viridis").run()
    assert not at.exception and at.image[0].value != first
    assert explain_calls == [(top[0].index,)]  # opacity and colormap redraw, never recompute
    at.selectbox(key="gc_layer_resnet18").set_value("layer3.1.conv2").run()
    assert explain_calls[-1] == (top[0].index,) and len(explain_calls) == 2 and "raw map, 14x14" in captions(at)
    at.segmented_control(key="gc_view").set_value("top3").run()
    assert not at.exception
    assert explain_calls[-1] == tuple(p.index for p in top[:3])  # one call, one pass, three classes
    assert [f"{p.label} · {p.probability:.1%}" for p in top[:3]] == [c for c in captions(at) if " · " in c]


def test_any_class_by_name_and_the_layer_by_layer_view(explain_calls) -> None:
    at = open_page("gradcam", **STATE)
    at.segmented_control(key="gc_target_mode").set_value("Any class").run()
    at.selectbox(key="gc_class").set_value(point := 340).run()
    at.segmented_control(key="gc_view").set_value("depth").run()
    assert not at.exception and not at.error
    zebra = get_model("resnet18", pretrained=False).categories[point]
    assert explain_calls[-1] == (point,) and f"Grad-CAM of {zebra}, shallow to deep" in texts(at)
    assert [c for c in captions(at) if c.startswith(("conv1", "layer"))] == [
        "conv1 · 112x112",
        "layer1.1.conv2 · 56x56",
        "layer2.1.conv2 · 28x28",
        "layer3.1.conv2 · 14x14",
        "layer4.1 · 7x7",
    ]


def test_an_expensive_method_shows_its_cost_and_waits_for_the_button() -> None:
    at = open_page("gradcam", **STATE)
    at.radio(key="gc_method").set_value("occlusion").run()
    at.slider(key="gc_window").set_value(112).run()
    at.slider(key="gc_stride").set_value(56).run()
    run = at.button(key="gc_run")
    assert "10 forward passes in 3 batches" in run.label  # 3x3 squares and the image itself, 8 per batch
    assert not any(c.startswith("Occlusion of") for c in captions(at))
    assert "runs when you press the button" in texts(at)
    run.click().run()
    assert not at.exception and not at.error
    assert any(c.startswith("Occlusion of") for c in captions(at))


def test_sanity_check_randomises_a_copy_and_reports_the_similarity() -> None:
    model = get_model("resnet18", pretrained=False)
    before = model.module.fc.weight.detach().clone()
    at = open_page("gradcam", **STATE)
    at.segmented_control(key="gc_view").set_value("sanity").run()
    assert not at.get("plotly_chart")
    at.button(key="gc_sanity_run").click().run()
    assert not at.exception and not at.error
    shown = captions(at)
    assert shown[0] == "original" and sum(c.startswith("down to ") for c in shown) == 6
    assert at.get("plotly_chart") and "After randomising every layer" in texts(at)
    assert model.module.fc.weight.equal(before)


def _legend_end(at) -> str:
    """The top of the colour bar burnt into the slide of the picture shown last (the worksheet's newest)."""
    return list(at.session_state["ws_entries"].values())[-1].legend.high


def test_top3_share_one_colour_scale_by_default_and_can_each_have_their_own(top) -> None:
    at = open_page("gradcam", **STATE)
    at.segmented_control(key="gc_view").set_value("top3").run()
    assert not at.exception and not at.error
    assert "The 3 maps share one colour scale" in texts(at) and at.toggle(key="gc_own_scale").value is False
    shared = [image.value for image in at.image]
    assert len(shared) == 3 + 3 + 1  # three overlays, their raw maps and one colour bar for all of them
    assert _legend_end(at) == "strongest of the 3 maps (one scale)"  # burnt into the exported slide
    at.toggle(key="gc_own_scale").set_value(True).run()
    assert not at.exception and "Each map is scaled to its own maximum" in texts(at)
    assert at.query_params["own_scales"] == "1"  # a shared link keeps the choice
    assert _legend_end(at) == "this map's strongest (own scale)"
    own = [image.value for image in at.image]
    assert own != shared and [c for c in captions(at) if " · " in c] == [
        f"{p.label} · {p.probability:.1%}" for p in top[:3]
    ]


def test_two_sessions_showing_the_same_overlay_encode_it_once(explain_calls) -> None:
    from core.serving.pictures import PICTURES

    PICTURES.clear()
    first = open_page("gradcam", **STATE)
    drawn = PICTURES.stats()["misses"]
    assert drawn >= 2  # the overlay and its raw map
    second = open_page("gradcam", **STATE)
    assert not second.exception and PICTURES.stats()["misses"] == drawn  # the second student: nothing encoded
    assert second.image[0].value == first.image[0].value and len(explain_calls) == 1
    second.selectbox(key="gc_cmap").set_value("viridis").run()
    assert PICTURES.stats()["misses"] >= drawn + 2  # another colormap: new pictures
    recoloured = PICTURES.stats()["misses"]
    second.slider(key="gc_alpha").set_value(0.8).run()
    assert PICTURES.stats()["misses"] == recoloured + 1  # another opacity: a new overlay (its raw map is the same)
    assert len(explain_calls) == 1  # and never a new pass


def test_two_sessions_running_the_same_sanity_check_randomise_once() -> None:
    from core.serving import EXTRAS

    def sanity(method: str = "grad_cam"):
        at = open_page("gradcam", **STATE)
        at.segmented_control(key="gc_view").set_value("sanity").run()
        if method != "grad_cam":
            at.segmented_control(key="gc_sanity_method").set_value(method).run()
        at.button(key="gc_sanity_run").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        return at

    EXTRAS.clear()
    start = EXTRAS.stats()["misses"]
    first = sanity()
    computed = EXTRAS.stats()["misses"]
    assert computed >= start + 2  # the crop and the sanity check (and the pass timing of the first view)
    second = sanity()
    assert EXTRAS.stats()["misses"] == computed  # the second student: the same check, not randomised again
    assert captions(second) == captions(first) and [i.value for i in second.image] == [i.value for i in first.image]
    sanity("saliency")
    assert EXTRAS.stats()["misses"] == computed + 1  # another method: a check of its own
