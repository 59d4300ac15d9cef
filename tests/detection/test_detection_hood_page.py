"""The YOLO page's "Under the hood" section in AppTest, with the real YOLOv8n (OpenVINO) and the ball .pt."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from core import serving
from core.detection import yolo, yolo_files
from core.serving.pictures import PICTURES
from tests.apptest import open_page, texts
from tests.conftest import shared_path


@pytest.fixture
def offline_kit(monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = shared_path("weights")
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(folder))
    return folder


def _spy(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, calls: list[str]) -> None:
    """Count calls of ``owner.name`` and still run the real method."""
    real = getattr(owner, name)

    @functools.wraps(real)
    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)


def test_four_steps_on_the_bus_and_sliders_never_rerun_the_model(offline_kit, monkeypatch) -> None:
    serving.HOOD.clear()  # the keep-all passes are shared by every session of the process
    at = open_page("detection")  # bus.jpg and zidane.jpg
    at.toggle(key="det_hood").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.selectbox(key="det_hood_image").value == 0  # bus.jpg
    shown = texts(at)
    assert "80x80 + 40x40 + 20x20 = **8,400 cells**" in shown
    assert {m.label: m.value for m in at.metric}["All candidates, before any threshold"] == "8,400"
    assert at.slider(key="det_hood_step").max == 5  # bus + 4 people, as the page's own NMS finds
    assert "**NMS IoU** decides which duplicates to drop" in shown and "**IoU for a match**" in shown
    info = " ".join(i.value for i in at.info)
    assert "OpenVINO" in info and "no gradients" in info  # no CAM for an exported model, and why

    model = yolo.load_model(yolo_files.find_model("yolov8n"))  # the page's cached model
    calls: list[str] = []
    _spy(monkeypatch, model.model, "predict", calls)
    _spy(monkeypatch, type(model.model.predictor.model), "forward", calls)
    at.slider(key="det_hood_step").set_value(1).run()
    step_text = " ".join(t.value for t in at.text)
    assert "Step 1 of 5: keep the most confident box still waiting (yellow), person 0.89" in step_text
    assert "remove 8 box(es) of that class with IoU > 0.70: 0.99" in step_text
    at.slider(key="det_hood_step").set_value(5).run()
    assert {m.label: m.value for m in at.metric}["Boxes left (kept + waiting)"] == "5"
    at.toggle(key="det_hood_play").set_value(True).run()  # each run while playing shows the next step
    assert at.slider(key="det_hood_step").value == 1  # after the last step it starts again
    at.toggle(key="det_hood_play").set_value(False).run()
    at.slider(key="det_hood_conf").set_value(0.5).run()
    assert at.slider(key="det_hood_step").max == 4
    at.slider(key="det_hood_nms").set_value(0.3).run()
    assert not at.exception and not at.error
    assert calls == []
    at.selectbox(key="det_hood_image").set_value(1).run()  # a new image: the one pass that keeps every candidate
    assert calls == ["forward"]
    csv = next(b for b in at.get("download_button") if b.proto.label == "Download the NMS steps (CSV)")
    assert csv is not None


def test_cam_on_the_ball_detector(offline_kit) -> None:
    at = open_page("detection", det_samples=["bus.jpg"])
    at.selectbox(key="det_model").set_value("ball_yolov9t.pt").run()
    at.toggle(key="det_hood").set_value(True).run()
    at.slider(key="det_hood_conf").set_value(0.01).run()
    assert not at.info or "no gradients" not in " ".join(i.value for i in at.info)
    at.radio(key="det_hood_method").set_value("LayerCAM").run()
    at.toggle(key="det_hood_cam").set_value(True).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "LayerCAM for this box's class score" in texts(at)


def _hood(at, step: int):
    """A session with "Under the hood" open on bus.jpg, at NMS step ``step``."""
    at.toggle(key="det_hood").set_value(True).run()
    at.slider(key="det_hood_step").set_value(step).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def _misses(cache) -> int:
    return cache.stats()["misses"]


def test_two_sessions_stepping_nms_share_the_pass_and_draw_each_step_once(offline_kit) -> None:
    first = _hood(open_page("detection", det_samples=["bus.jpg"]), 2)
    passes, drawn = _misses(serving.HOOD), _misses(PICTURES)
    second = _hood(open_page("detection", det_samples=["bus.jpg"]), 2)
    assert _misses(serving.HOOD) == passes  # the second student: no pass of the model
    assert _misses(PICTURES) == drawn  # ... and no picture drawn: grids, candidates, step 2
    assert [i.value for i in second.image] == [i.value for i in first.image]
    second.slider(key="det_hood_step").set_value(3).run()
    assert _misses(PICTURES) == drawn + 1  # another step: that picture only
    first.slider(key="det_hood_step").set_value(3).run()
    assert _misses(PICTURES) == drawn + 1 and first.image[-1].value == second.image[-1].value
    second.slider(key="det_hood_conf").set_value(0.5).run()
    assert _misses(PICTURES) > drawn + 1 and _misses(serving.HOOD) == passes  # redrawn, never run again
