"""YOLO "Under the hood" for a lecture hall: one keep-all pass, one NMS run and one picture per step for all.

Real models from shared/ (the OpenVINO YOLOv8n and the ball .pt); the oracle is core.detection
called directly and PIL encoding the directly drawn picture.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from core import detection, serving
from core.io.images import load_image
from core.serving import hood
from core.serving.pictures import OBJECTS, PICTURES
from tests.conftest import shared_path
from tests.serving.test_serving import together


@pytest.fixture(scope="module")
def coco_model() -> detection.YoloModel:
    return detection.load_model(shared_path("weights") / "yolov8n_int8_openvino_model")


@pytest.fixture(scope="module")
def bus() -> Image.Image:
    return load_image(shared_path("images") / "bus.jpg")


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    for cache in (serving.HOOD, PICTURES, OBJECTS):
        cache.clear()


class Misses:
    """Misses of a shared cache (things computed or drawn) since this was made: clearing keeps the counts."""

    def __init__(self, cache) -> None:
        self.cache, self.start = cache, cache.stats()["misses"]

    def __call__(self) -> int:
        return self.cache.stats()["misses"] - self.start


def jpeg(picture: Image.Image) -> bytes:
    """What st.image would store for an opaque picture: JPEG at quality 90 (the oracle for shared bytes)."""
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def test_sessions_share_one_keep_all_pass_identical_to_computing_it(coco_model, bus) -> None:
    passes_run = Misses(serving.HOOD)
    passes = together(4, lambda _: hood.raw_output(coco_model, bus))
    assert all(raw is passes[0] for raw in passes)
    assert passes_run() == 1  # four students, one pass
    alone = detection.raw_output(coco_model, bus)
    np.testing.assert_allclose(passes[0].boxes, alone.boxes, atol=1e-4)
    np.testing.assert_allclose(passes[0].scores, alone.scores, atol=1e-5)
    assert hood.raw_output(coco_model, bus.copy()) is passes[0]  # keyed by the image's pixels, not the object
    assert passes_run() == 1


def test_each_nms_step_is_drawn_once_and_another_step_or_threshold_anew(coco_model, bus) -> None:
    raw = hood.raw_output(coco_model, bus)
    drawn = Misses(PICTURES)
    run = hood.nms(raw, 0.25, 0.7)
    assert hood.nms(raw, 0.25, 0.7) is run  # another session: the same run
    direct = detection.run_nms(raw, 0.25, 0.7)
    assert run.kept.tolist() == direct.kept.tolist() and len(run.steps) == 5
    pictures = together(3, lambda _: hood.nms_png(raw, hood.nms(raw, 0.25, 0.7), 2, coco_model.names))
    assert drawn() == 1 and len(set(pictures)) == 1  # three students on step 2: drawn once
    assert pictures[0] == jpeg(detection.nms_picture(raw, direct, 2, coco_model.names))
    step3 = hood.nms_png(raw, run, 3, coco_model.names)
    assert drawn() == 2 and step3 != pictures[0]  # another step: drawn anew
    stricter = hood.nms(raw, 0.25, 0.3)
    assert stricter is not run and hood.nms_png(raw, stricter, 2, coco_model.names) is not None
    assert drawn() == 3  # another NMS IoU: drawn anew


def test_grids_candidates_and_steps_table_are_shared_and_equal_the_direct_ones(coco_model, bus) -> None:
    raw = hood.raw_output(coco_model, bus)
    drawn = Misses(PICTURES)
    run = hood.nms(raw, 0.25, 0.7)
    heat = detection.level_heatmaps(raw)
    for level in range(3):
        direct = detection.grid_picture(raw, level, detection.grid_base(raw, level, heat[level]), run.kept)
        assert hood.grid_png(raw, run, level) == jpeg(direct)
    everything = hood.candidates_png(raw)
    assert everything == jpeg(detection.candidates_picture(raw, range(len(raw.boxes))))
    assert hood.candidates_png(raw, run) == jpeg(detection.candidates_picture(raw, run.above, opacity=0.8))
    assert drawn() == 5
    for level in range(3):  # a second session: every picture from the cache
        hood.grid_png(raw, hood.nms(raw, 0.25, 0.7), level)
    assert hood.candidates_png(raw) is everything
    hood.candidates_png(raw, hood.nms(raw, 0.25, 0.3))  # another NMS IoU, the same candidates above 0.25
    assert drawn() == 5
    rows, csv = hood.steps_table(raw, run, coco_model.names)
    assert hood.steps_table(raw, run, coco_model.names)[1] is csv
    assert rows == detection.step_rows(raw, run, coco_model.names)
    assert csv == detection.steps_csv(raw, run, coco_model.names)


@pytest.fixture(scope="module")
def ball_model() -> detection.YoloModel:
    return detection.load_model(shared_path("weights") / "ball_yolov9t.pt")


def test_a_box_cam_is_computed_once_per_model_image_and_method(ball_model, bus) -> None:
    computed, drawn = Misses(serving.HOOD), Misses(PICTURES)
    raw = hood.raw_output(ball_model, bus)
    candidate = int(raw.best.argmax())
    class_id = int(raw.best_class[candidate])
    cams = together(3, lambda _: hood.box_cam(ball_model, bus, candidate, class_id, "LayerCAM"))
    assert all(cam is cams[0] for cam in cams)
    assert computed() == 2  # the keep-all pass and one CAM for three students
    direct = detection.box_cam(ball_model, raw, candidate, class_id, "LayerCAM")
    np.testing.assert_allclose(cams[0].heat, direct.heat, atol=1e-5)
    assert cams[0].peak == direct.peak and cams[0].score == pytest.approx(direct.score, abs=1e-6)
    picture = hood.cam_png(bus, raw, cams[0], candidate)
    assert hood.cam_png(bus, raw, cams[0], candidate) is picture and drawn() == 1
    box = raw.to_image(raw.boxes[[candidate]])[0]
    assert picture == jpeg(detection.cam_picture(bus, direct, box))
    eigen = hood.box_cam(ball_model, bus, candidate, class_id, "EigenCAM")
    assert eigen is not cams[0] and computed() == 3  # another method: computed anew
    with pytest.raises(ValueError, match="method must be one of"):
        hood.box_cam(ball_model, bus, candidate, class_id, "SmoothGrad")
