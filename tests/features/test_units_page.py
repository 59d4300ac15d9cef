"""The "what units learned" page through AppTest, from the entry file, on tiny settings."""

from core.datasets.image_sets import SAMPLES_LABEL, image_sources, load_image_set
from core.features.dataset_examples import find_cached_maxima
from core.models.loading import get_model
from tests.apptest import open_page, texts


def test_record_examples_then_draw_a_channel_and_a_class(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path))
    at = open_page(
        "units", sb_model="tiny_vgg", sb_weights="Pretrained", ud_dataset=SAMPLES_LABEL, ud_fv_size=64, ud_fv_steps=16
    )
    assert not at.error and "Record a dataset above" in texts(at)
    at.button(key="ud_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {"ud_run", "ud_stop"}.isdisjoint(b.key for b in at.button)  # the offer and Stop are gone
    patches = [i for i in at.image if i.captions and " · " in i.captions[0]]
    assert len(patches) == 9  # the nine sample photos, strongest first
    values = [float(i.captions[0].split(" · ")[0]) for i in patches]
    assert values == sorted(values, reverse=True)
    source = next(s for s in image_sources() if s.label == SAMPLES_LABEL)
    assert find_cached_maxima(get_model("tiny_vgg"), load_image_set(source), 64) is not None

    at.selectbox(key="ud_layer").set_value("features.conv_3_3").run()
    at.number_input(key="ud_channel").set_value(5).run()
    assert not at.exception and "channel 5 of features.conv_3_3" in texts(at)
    at.button(key="ud_fv_run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "Objective" in texts(at) and len(at.get("plotly_chart")) == 1
    assert {"ud_fv_run", "ud_fv_stop"}.isdisjoint(b.key for b in at.button)

    at.segmented_control(key="ud_fv_target").set_value("a class").run()
    at.selectbox(key="ud_fv_class").set_value(3).run()
    assert "the image class star wants" in texts(at)
    at.button(key="ud_fv_run").click().run()
    assert not at.exception and not at.error and "Objective" in texts(at)
    assert "One object's outline, painted in random colours" in texts(at)  # a class: its shape by default
    at.segmented_control(key="ud_fv_style").set_value("texture (Lucid)").run()
    assert not at.exception and any(b.key == "ud_fv_run" for b in at.button)  # not drawn in this style yet
