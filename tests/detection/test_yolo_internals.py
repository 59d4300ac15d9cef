"""YOLO internals: grids from the output, NMS step by step against torchvision, candidates, CAMs on a real .pt."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.ops import batched_nms

from core.detection import box_cams, candidates, inside_pictures, yolo
from core.detection.boxes import filter_detections
from core.io.images import load_image
from core.util import hooks
from tests.conftest import shared_path


def test_grids_come_from_the_candidate_count() -> None:
    levels = candidates.derive_grid(8400, 640, 640, 32)
    assert [(g.stride, g.rows, g.cols, g.start) for g in levels] == [
        (8, 80, 80, 0),
        (16, 40, 40, 6400),
        (32, 20, 20, 8000),
    ]
    assert [g.anchors for g in candidates.derive_grid(25200, 640, 640, 32)] == [3, 3, 3]  # anchor-based
    assert [g.stride for g in candidates.derive_grid(2100, 320, 320, 32)] == [8, 16, 32]
    assert [g.stride for g in candidates.derive_grid(8500, 640, 640, 64)] == [8, 16, 32, 64]
    with pytest.raises(ValueError, match="not a grid-based YOLO head"):
        candidates.derive_grid(1000, 640, 640, 32)


def test_an_nms_free_output_is_explained() -> None:
    with pytest.raises(ValueError, match="NMS-free"):
        candidates._prediction(torch.zeros(1, 300, 6))
    assert candidates._prediction([torch.zeros(1, 84, 8400), {}]).shape == (1, 84, 8400)


def _random_boxes(rng: np.random.Generator, n: int, classes: int, crowd: float) -> tuple[np.ndarray, ...]:
    centres = rng.uniform(0, crowd, (n, 2))
    sizes = rng.uniform(1, 0.6 * crowd, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1).astype(np.float32)
    return boxes, rng.random(n).astype(np.float32), rng.integers(0, classes, n)


@pytest.mark.parametrize("seed", range(6))
def test_nms_steps_keep_exactly_the_boxes_of_torchvision(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = (5, 60, 400, 1500, 5000, 3)[seed]  # 5000: torchvision's per-class path on CPU
    boxes, scores, classes = _random_boxes(rng, n, (1, 3, 10, 80, 80, 1)[seed], crowd=100)
    for iou in (0.1, 0.45, 0.7, 0.95):
        steps = candidates.nms_steps(boxes, scores, classes, iou)
        expected = batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou)
        assert [s.kept for s in steps] == expected.tolist()
        removed = np.concatenate([s.removed for s in steps])
        assert sorted([*removed.tolist(), *(s.kept for s in steps)]) == list(range(n))  # each box once
        assert all((s.ious > iou).all() for s in steps)
        assert all((classes[s.removed] == classes[s.kept]).all() for s in steps)
        assert [s.survivors for s in steps][-1] == len(steps)  # the survivors fall to the final boxes
        assert all(a.survivors >= b.survivors for a, b in itertools.pairwise(steps))


def test_nms_step_ious_are_the_hand_computed_ones() -> None:
    boxes = [[0, 0, 10, 10], [0, 0, 10, 8], [0, 0, 10, 4], [20, 20, 30, 30]]
    steps = candidates.nms_steps(boxes, [0.9, 0.8, 0.7, 0.6], [0, 0, 0, 0], 0.5)
    assert [s.kept for s in steps] == [0, 2, 3]
    assert steps[0].removed.tolist() == [1] and steps[0].ious.tolist() == pytest.approx([0.8])  # 80 / 100
    assert [s.survivors for s in steps] == [3, 3, 3]
    with pytest.raises(ValueError, match="iou"):
        candidates.nms_steps(boxes, [1, 1, 1, 1], [0, 0, 0, 0], 0.0)


def test_outline_density_counts_outlines_by_hand() -> None:
    density = inside_pictures.outline_density(np.array([[1, 1, 3, 3], [1, 1, 3, 3], [0, 0, 4, 4]]), 6)
    assert density[1, 1] == 2 * 2  # two boxes, corner pixel counted by both edges of each
    assert density[1, 2] == 2 and density[2, 2] == 0 and density[0, 4] == 2 and density[5, 5] == 0


@pytest.fixture(scope="module")
def coco_model() -> yolo.YoloModel:
    return yolo.load_model(shared_path("weights") / "yolov8n_int8_openvino_model")


def test_raw_candidates_give_the_final_boxes_of_ultralytics(coco_model: yolo.YoloModel) -> None:
    image = load_image(shared_path("images") / "bus.jpg")
    raw = candidates.raw_output(coco_model, image)
    assert raw.boxes.shape == (8400, 4) and raw.scores.shape == (8400, 80) and raw.letterboxed.size == (640, 640)
    run = candidates.run_nms(raw, 0.25, 0.7)
    ultralytics = filter_detections(yolo.detect(coco_model, [image]).detections[0], conf=0.25, iou=0.7)
    np.testing.assert_allclose(raw.to_image(raw.boxes[run.kept]), ultralytics.boxes, atol=0.5)
    np.testing.assert_allclose(raw.best[run.kept], ultralytics.scores, atol=1e-3)
    assert [int(s) for s in raw.level_of(run.kept)] == [2, 2, 2, 2, 1]  # big people and bus: coarse grid
    heat = candidates.level_heatmaps(raw)
    assert [h.shape for h in heat] == [(80, 80), (40, 40), (20, 20)]
    assert heat[2].max() == pytest.approx(raw.best.max())
    rows = candidates.step_rows(raw, run, coco_model.names)
    assert [r["class"] for r in rows] == ["person", "person", "bus", "person", "person"]
    assert rows[-1]["waiting after"] == 0 and rows[0]["candidates"] == 8400
    assert sum(r["removed"] for r in rows) + len(rows) == rows[0]["above confidence"]
    assert candidates.steps_csv(raw, run, coco_model.names).splitlines()[0].startswith("step,class,confidence")
    with pytest.raises(ValueError, match="needs the PyTorch"):
        box_cams.box_cam(coco_model, raw, int(run.kept[0]), 0, "LayerCAM")
    for number in range(3):
        base = inside_pictures.grid_base(raw, number, heat[number])
        assert inside_pictures.grid_picture(raw, number, base, run.kept).size == (640, 640)
    assert inside_pictures.nms_picture(raw, run, 2, coco_model.names).size == (640, 640)


def ball_image(seed: int = 0) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A football-like ball (white, black pentagons) on grass, and its true box."""
    rng = np.random.default_rng(seed)
    grass = (rng.normal(0, 12, (480, 640, 3)) + np.array([60, 140, 60])).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(grass)
    draw = ImageDraw.Draw(image)
    cx, cy, r = 400, 260, 40
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(245, 245, 245), outline=(20, 20, 20), width=2)
    for k in range(5):
        t = k * 2 * np.pi / 5
        draw.regular_polygon((cx + 0.6 * r * np.cos(t), cy + 0.6 * r * np.sin(t), r * 0.22), 5, fill=(20, 20, 20))
    draw.regular_polygon((cx, cy, r * 0.25), 5, fill=(20, 20, 20))
    return image, (cx - r, cy - r, cx + r, cy + r)


@pytest.fixture(scope="module")
def ball_model() -> yolo.YoloModel:
    return yolo.load_model(shared_path("weights") / "ball_yolov9t.pt")


def _iou(a, b) -> float:
    from core.detection.boxes import iou_matrix

    return float(iou_matrix([a], [b])[0, 0])


@pytest.mark.slow
def test_cams_peak_inside_a_correct_ball_box_and_leave_no_hooks(ball_model: yolo.YoloModel) -> None:
    image, truth = ball_image()
    raw = candidates.raw_output(ball_model, image)
    run = candidates.run_nms(raw, 0.25, 0.7)
    box = raw.to_image(raw.boxes[run.kept[:1]])[0]
    assert len(run.kept) == 1 and _iou(box, truth) > 0.8  # the box is correct
    net = ball_model.model.model
    before = hooks.hook_count(net)
    for method in box_cams.CAM_METHODS:
        cam = box_cams.box_cam(ball_model, raw, int(run.kept[0]), 0, method)
        assert cam.heat.shape == (480, 640) and cam.heat.max() == pytest.approx(1.0)
        assert box_cams.peak_inside(cam, box), (method, cam.peak, box)
        assert cam.score == pytest.approx(float(raw.best[run.kept[0]]), abs=1e-3)
    assert hooks.hook_count(net) == before
    with pytest.raises(IndexError):
        box_cams.box_cam(ball_model, raw, int(run.kept[0]), 5, "LayerCAM")  # fails inside the hooked pass
    assert hooks.hook_count(net) == before
    assert not any(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="method"):
        box_cams.box_cam(ball_model, raw, 0, 0, "SmoothGrad")
    with pytest.raises(ValueError, match="candidate"):
        box_cams.box_cam(ball_model, raw, 8400, 0, "EigenCAM")


@pytest.mark.slow
def test_an_onnx_export_gives_the_same_candidates_and_no_cam(tmp_path) -> None:
    pytest.importorskip("onnx", reason="onnx is in requirements-dev.txt")
    pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-dev.txt")
    source = tmp_path / "ball.pt"
    source.write_bytes(shared_path("weights", "ball_yolov9t.pt").read_bytes())
    with warnings.catch_warnings():  # the ONNX exporter warns about its own tracing and deprecations, not ours
        warnings.simplefilter("ignore")
        yolo.ultralytics_module().YOLO(str(source)).export(format="onnx", imgsz=640, simplify=False, verbose=False)
    model = yolo.load_model(tmp_path / "ball.onnx")
    assert model.format == "ONNX"
    image, truth = ball_image()
    raw = candidates.raw_output(model, image)
    assert [g.stride for g in raw.levels] == [8, 16, 32] and len(raw.boxes) == 8400
    run = candidates.run_nms(raw, 0.25, 0.7)
    ultralytics = filter_detections(yolo.detect(model, [image]).detections[0], conf=0.25, iou=0.7)
    np.testing.assert_allclose(raw.to_image(raw.boxes[run.kept]), ultralytics.boxes, atol=0.5)
    assert _iou(ultralytics.boxes[0], truth) > 0.8
    assert "ONNX" in box_cams.cam_unavailable(model)


def test_under_the_hood_of_the_shipped_detector_runs_at_its_size_and_its_cams_peak_in_its_boxes() -> None:
    """The project's own detector (trained at a small size): the raw pass uses that size, its NMS steps give
    the page's boxes, and every CAM of a correct box peaks inside it (OpenVINO for boxes, the .pt for CAMs)."""
    from core.detection import classroom
    from core.detection.boxes import iou_matrix, parse_yolo_labels

    scene = classroom.DETECTOR_DIR / "samples" / "shapes_scene_0.png"
    image = load_image(scene.read_bytes())
    truth = parse_yolo_labels(scene.with_suffix(".txt").read_text()).to_ground_truth(*image.size).boxes
    fast = yolo.load_model(classroom.OPENVINO_PATH)
    raw = candidates.raw_output(fast, image)
    assert raw.letterboxed.size == (fast.imgsz, fast.imgsz) and fast.imgsz < yolo.IMGSZ
    assert sum(level.count for level in raw.levels) == len(raw.boxes)
    run = candidates.run_nms(raw, 0.25, 0.7)
    page = filter_detections(yolo.detect(fast, [image]).detections[0], conf=0.25, iou=0.7)
    np.testing.assert_allclose(raw.to_image(raw.boxes[run.kept]), page.boxes, atol=0.5)
    torch_model = yolo.load_model(classroom.DETECTOR_DIR / "shapes_yolov8n.pt")
    raw = candidates.raw_output(torch_model, image)
    run = candidates.run_nms(raw, 0.25, 0.7)
    boxes = raw.to_image(raw.boxes[run.kept])
    correct = [i for i, box in enumerate(boxes) if iou_matrix([box], truth).max() > 0.5]
    assert correct, "the shipped detector finds none of the scene's shapes"
    inside = {method: 0 for method in box_cams.CAM_METHODS}
    for i in correct:
        candidate = int(run.kept[i])
        for method in box_cams.CAM_METHODS:
            cam = box_cams.box_cam(torch_model, raw, candidate, int(raw.scores[candidate].argmax()), method)
            inside[method] += box_cams.peak_inside(cam, boxes[i])
    # LayerCAM (the page's default) stays on the chosen box; Grad-CAM (grid-averaged weights) and EigenCAM
    # (class-agnostic) may light another shape of the scene, as the page says.
    assert inside["LayerCAM"] == len(correct), inside
