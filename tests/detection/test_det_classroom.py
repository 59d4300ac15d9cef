"""The shipped classroom detector: its metadata, its OpenVINO export on the YOLO page, judged by exact labels."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.datasets.shape_scenes import DET_BASE_CLASSES, render_scene
from core.detection import classroom as det_classroom
from core.detection import yolo, yolo_files
from core.detection.boxes import GroundTruth, iou_matrix, parse_yolo_labels
from core.detection.metrics import evaluate
from core.io.images import load_image

pytestmark = pytest.mark.skipif(not det_classroom.available(), reason="assets/detector/ not trained yet")


@pytest.fixture(scope="module")
def shapes_model(tmp_path_factory: pytest.TempPathFactory) -> yolo.YoloModel:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONVLENS_HOME", str(tmp_path_factory.mktemp("yolo_home")))
        yolo.ultralytics_module()
        return yolo.load_model(yolo_files.find_model("convlens-shapes"), label="convlens-shapes")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size


def test_the_metadata_describes_the_shipped_files() -> None:
    meta = json.loads(det_classroom.METADATA_PATH.read_text())
    assert meta["classes"] == list(DET_BASE_CLASSES) and meta["config"]["seed"] == 0
    assert 0 <= meta["val_map50_95"] <= meta["val_map50"] <= 1 and meta["train_seconds"] > 0
    assert len(meta["epochs"]) == meta.get("stopped_after_epoch", meta["config"]["epochs"])
    assert _size(det_classroom.WEIGHTS_PATH) < 8 * 2**20 and _size(det_classroom.OPENVINO_PATH) < 8 * 2**20


def test_the_yolo_page_offers_it_with_its_own_samples_and_labels(shapes_model: yolo.YoloModel) -> None:
    assert "convlens-shapes" in yolo_files.model_names()
    assert shapes_model.format == "OpenVINO" and shapes_model.imgsz == 128
    assert tuple(shapes_model.names.values()) == DET_BASE_CLASSES
    samples = {n: p for n, p in yolo.sample_images(shapes_model.names).items()}
    labels = yolo.shipped_labels(shapes_model.names)
    assert samples and set(labels) == {Path(n).stem for n in samples}  # the COCO labels are not offered
    assert set(yolo.shipped_labels({0: "person"})) == {"bus", "zidane"} and set(yolo.sample_images()) == {
        "bus.jpg",
        "zidane.jpg",
    }


def test_it_finds_the_generated_boxes_and_the_export_matches_the_pt(shapes_model: yolo.YoloModel) -> None:
    """Oracle: the generator's exact labels; the OpenVINO fp16 export against the PyTorch weights it came from."""
    samples = {n: p for n, p in yolo.sample_images(shapes_model.names).items()}
    images = [load_image(p) for p in samples.values()]
    labels = yolo.shipped_labels(shapes_model.names)
    truths = [
        parse_yolo_labels(labels[Path(n).stem], shapes_model.names).to_ground_truth(*image.size)
        for n, image in zip(samples, images, strict=True)
    ]
    batch = yolo.detect(shapes_model, images)
    report = evaluate(list(batch.detections), truths, shapes_model.names, conf=0.25, iou=0.5)
    assert report.total.ap50 is not None and report.total.ap50 >= MIN_SAMPLE_AP50, report.total
    torch_model = yolo.load_model(det_classroom.WEIGHTS_PATH, label="pt")
    assert torch_model.imgsz == 128
    for ours, theirs in zip(batch.detections, yolo.detect(torch_model, images).detections, strict=True):
        top_ov, top_pt = ours.boxes[ours.scores >= 0.25], theirs.boxes[theirs.scores >= 0.25]
        assert abs(len(top_ov) - len(top_pt)) <= 1
        if len(top_ov) and len(top_pt):
            assert np.median(iou_matrix(top_ov, top_pt).max(axis=1)) > 0.9


def test_its_val_map50_is_at_least_0_9_by_our_own_metrics(shapes_model: yolo.YoloModel) -> None:
    """#16's target, judged independently of Ultralytics' val: the shipped OpenVINO export on the 100
    generated val scenes (the split it was validated on, never trained on), by the COCO AP of
    ``core.detection.metrics`` (itself checked against pycocotools).
    Measured: AP50 0.939, AP50-95 0.799 (Ultralytics' own val, in metadata.json: 0.981 and 0.831)."""
    meta = json.loads(det_classroom.METADATA_PATH.read_text())
    size, count = meta["image_size"], meta["val_images"]
    scenes = [render_scene(DET_BASE_CLASSES, meta["config"]["seed"], "val", i, size) for i in range(count)]
    detections = []
    for start in range(0, count, 32):
        images = [Image.fromarray(s.image) for s in scenes[start : start + 32]]
        detections.extend(yolo.detect(shapes_model, images).detections)
    truths = [GroundTruth(s.boxes.astype(np.float64), s.labels) for s in scenes]
    report = evaluate(detections, truths, shapes_model.names, conf=0.25, iou=0.5)
    assert report.total.ap50 is not None and report.total.ap50 >= 0.9, report.total


MIN_SAMPLE_AP50 = 0.5
