"""COCO-style metrics (pycocotools as the oracle on generated scenes, small cases by hand) and their pictures."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from core.detection.boxes import Detections, GroundTruth, iou_parts, make_detections, xyxy_to_xywh
from core.detection.metrics import BACKGROUND, evaluate, match
from core.detection.pictures import (
    FN,
    FP,
    OUTLINE,
    OVERLAP,
    PREDICTED,
    TP,
    TRUTH,
    confusion_figure,
    draw_detections,
    iou_arithmetic,
    iou_picture,
    pr_figure,
)
from core.detection.report_tables import detection_rows, report_csv

NAMES = {i: f"class{i}" for i in range(40)}


def _scene(rng: np.random.Generator, images: int, classes: int) -> tuple[list[Detections], list[GroundTruth]]:
    """Crowded scenes: clusters of overlapping true boxes, jittered detections, duplicates and strays.

    Every fifth image has no ground truth and every seventh no detections.
    """
    dets, truths = [], []
    for index in range(images):
        gt_boxes, gt_classes = [], []
        if index % 5 != 4:
            for _ in range(rng.integers(1, 4)):  # clusters make crowded overlaps
                cx, cy = rng.uniform(60, 440, size=2)
                for _ in range(rng.integers(1, 6)):
                    w, h = rng.uniform(8, 120, size=2)
                    x, y = cx + rng.normal(0, 15), cy + rng.normal(0, 15)
                    gt_boxes.append([x - w / 2, y - h / 2, x + w / 2, y + h / 2])
                    gt_classes.append(int(rng.integers(0, classes)))
        gt_boxes = np.array(gt_boxes).reshape(-1, 4)
        boxes, labels = [], []
        if index % 7 != 6:
            for box, label in zip(gt_boxes, gt_classes, strict=True):
                for _ in range(rng.integers(0, 3)):  # missed, found, or found twice
                    w, h = box[2:] - box[:2]
                    boxes.append(box + rng.normal(0, 0.12, size=4) * [w, h, w, h])
                    labels.append(label if rng.random() < 0.85 else int(rng.integers(0, classes)))
            for _ in range(rng.integers(0, 6)):  # strays
                x, y = rng.uniform(0, 450, size=2)
                w, h = rng.uniform(5, 80, size=2)
                boxes.append([x, y, x + w, y + h])
                labels.append(int(rng.integers(0, classes)))
        boxes = np.array(boxes).reshape(-1, 4)
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.5)
        dets.append(make_detections(boxes, rng.uniform(0.01, 1, size=len(boxes)), labels))
        truths.append(GroundTruth(gt_boxes, np.array(gt_classes, dtype=np.int64)))
    return dets, truths


def _pycocotools(dets: list[Detections], truths: list[GroundTruth], classes: int) -> tuple[dict, float, float]:
    """Per-class (AP50, AP50-95) and their means from pycocotools' COCOeval on the same boxes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    boxes = [
        (i + 1, int(c) + 1, b)
        for i, truth in enumerate(truths)
        for b, c in zip(xyxy_to_xywh(truth.boxes).tolist(), truth.classes, strict=True)
    ]
    annotations = [
        {"id": n, "image_id": i, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
        for n, (i, c, b) in enumerate(boxes, start=1)
    ]
    dataset = {
        "images": [{"id": i + 1, "width": 500, "height": 500} for i in range(len(truths))],
        "annotations": annotations,
        "categories": [{"id": c + 1, "name": NAMES[c]} for c in range(classes)],
    }
    results = [
        {"image_id": i + 1, "category_id": int(c) + 1, "bbox": b, "score": float(s)}
        for i, d in enumerate(dets)
        for b, s, c in zip(xyxy_to_xywh(d.boxes).tolist(), d.scores, d.classes, strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = dataset
        gt.createIndex()
        coco_eval = COCOeval(gt, gt.loadRes(results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    precision = coco_eval.eval["precision"][:, :, :, 0, 2]  # T x R x K at area all, maxDets 100
    per_class = {}
    for k in range(classes):
        if (precision[:, :, k] > -1).any():
            per_class[k] = (precision[0, :, k].mean(), precision[:, :, k].mean())
    return per_class, coco_eval.stats[1], coco_eval.stats[0]


# The largest difference measured against pycocotools over these scenes is 2.2e-16 (float64 rounding).
COCO_TOLERANCE = 1e-12


@pytest.mark.parametrize(("seed", "classes"), list(enumerate([3, 5, 8, 12, 20, 40])))
def test_ap_equals_pycocotools(seed: int, classes: int) -> None:
    rng = np.random.default_rng(seed)
    dets, truths = _scene(rng, images=12, classes=classes)
    truths_or_none: list[GroundTruth | None] = list(truths)
    ours = evaluate(dets, truths_or_none, NAMES, conf=0.3, iou=0.5)
    per_class, map50, map50_95 = _pycocotools(dets, truths, classes)
    rated = {c.class_id: (c.ap50, c.ap50_95) for c in ours.classes if c.ap50 is not None}
    assert rated.keys() == per_class.keys()
    for k, (ap50, ap50_95) in per_class.items():
        assert rated[k][0] == pytest.approx(ap50, abs=COCO_TOLERANCE), f"AP50 of class {k}"
        assert rated[k][1] == pytest.approx(ap50_95, abs=COCO_TOLERANCE), f"AP50-95 of class {k}"
    assert ours.total.ap50 == pytest.approx(map50, abs=COCO_TOLERANCE)
    assert ours.total.ap50_95 == pytest.approx(map50_95, abs=COCO_TOLERANCE)
    assert 0 < map50 < 1 and 0 < map50_95 < map50  # the scenes are neither trivial nor hopeless


def test_more_than_100_detections_per_class_are_cut_like_coco() -> None:
    rng = np.random.default_rng(7)
    truth = GroundTruth(np.array([[300.0, 300, 350, 350], [100, 100, 180, 160]]), np.array([0, 0]))
    boxes = rng.uniform(0, 200, size=(150, 2))
    boxes = np.concatenate([boxes, boxes + rng.uniform(5, 60, size=(150, 2))], axis=1)
    boxes[140] = [300, 300, 350, 350]  # the only match of box 0, with a score too low for the top 100
    scores = np.linspace(0.9, 0.05, 150)
    dets = [make_detections(boxes, scores, np.zeros(150))]
    ours = evaluate(dets, [truth], NAMES, conf=0.0, iou=0.5)
    _, map50, map50_95 = _pycocotools(dets, [truth], 1)
    assert ours.total.ap50 == pytest.approx(map50, abs=COCO_TOLERANCE)
    assert ours.total.ap50_95 == pytest.approx(map50_95, abs=COCO_TOLERANCE)
    assert ours.images[0].det_tp[140]  # counts below the AP cut: precision and recall see every box shown


def test_matching_by_hand() -> None:
    gt = np.array([[0.0, 0, 10, 10], [20, 0, 30, 10]])
    dets = np.array([[0.0, 0, 10, 10], [1, 0, 11, 10], [21, 0, 31, 10], [50, 50, 60, 60]])
    matches, ious = match(dets, gt, np.array([0.5, 0.9]))
    # The best detection takes box 0; its near twin finds box 0 taken and stays unmatched.
    assert matches[0].tolist() == [0, -1, 1, -1]
    # At IoU 0.9 the shifted detection (IoU 9/11 = 0.818) no longer counts.
    assert matches[1].tolist() == [0, -1, -1, -1]
    assert ious[2, 1] == pytest.approx(9 / 11)


def test_ties_in_iou_go_to_the_later_ground_truth_like_coco() -> None:
    gt = np.array([[0.0, 0, 10, 10], [5, 0, 15, 10]])
    matches, _ = match(np.array([[2.5, 0, 12.5, 10]]), gt, np.array([0.5]))
    assert matches.tolist() == [[1]]


def test_counts_precision_recall_f1_and_confusion() -> None:
    truth = GroundTruth(np.array([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]]), np.array([0, 0, 1]))
    dets = make_detections(
        [[0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10], [60, 0, 70, 10], [0, 0, 10, 10]],
        [0.9, 0.8, 0.7, 0.6, 0.1],
        [0, 1, 1, 1, 0],  # box 2 is found with the wrong class; box 4 is below the threshold
    )
    report = evaluate([dets], [truth], NAMES, conf=0.5, iou=0.5)
    by_name = {c.name: c for c in report.classes}
    assert (by_name["class0"].tp, by_name["class0"].fp, by_name["class0"].fn) == (1, 0, 1)
    assert (by_name["class1"].tp, by_name["class1"].fp, by_name["class1"].fn) == (1, 2, 0)
    total = report.total
    assert (total.tp, total.fp, total.fn) == (2, 2, 1)
    assert total.precision == pytest.approx(0.5) and total.recall == pytest.approx(2 / 3)
    assert total.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    image = report.images[0]
    assert len(image.detections) == 4 and image.det_tp.tolist() == [True, False, True, False]
    assert image.gt_tp.tolist() == [True, False, True] and image.counts == (2, 2, 1)
    cm = report.confusion
    assert cm.labels == ("class0", "class1", BACKGROUND)
    # rows: truth, columns: prediction
    assert cm.counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_unlabelled_images_are_left_out_and_classes_without_truth_have_no_ap() -> None:
    truth = GroundTruth(np.array([[0.0, 0, 10, 10]]), np.array([0]))
    seen = make_detections([[0, 0, 10, 10], [30, 30, 40, 40]], [0.9, 0.8], [0, 3])
    unseen = make_detections([[0, 0, 10, 10]], [0.9], [0])
    report = evaluate([seen, unseen], [truth, None], NAMES, conf=0.25, iou=0.5)
    assert report.judged == 1
    assert report.images[1].truth is None and report.images[1].counts == (0, 0, 0)
    ap = {c.name: c.ap50 for c in report.classes}
    assert ap == {"class0": pytest.approx(1.0), "class3": None}
    assert report.total.ap50 == pytest.approx(1.0) and report.total.fp == 1
    lines = report_csv(report).splitlines()
    assert lines[0] == "class,truth boxes,TP,FP,FN,precision,recall,F1,AP50,AP50-95,confidence threshold,IoU threshold"
    assert lines[2] == "class3,0,0,1,0,0.0000,,,,,0.25,0.5"  # no truth: recall, F1 and AP are empty
    assert lines[-1] == "all,1,1,1,0,0.5000,1.0000,0.6667,1.0000,1.0000,0.25,0.5"
    rows = detection_rows(report.images[0], NAMES)
    assert [(r["verdict"], r["class"], r["box (x1, y1, x2, y2)"]) for r in rows] == [
        ("TP", "class0", "0, 0, 10, 10"),
        ("FP", "class3", "30, 30, 40, 40"),
    ]
    assert rows[0]["IoU"] == pytest.approx(1.0) and detection_rows(report.images[1], NAMES)[0]["verdict"] == "-"


def test_no_detections_at_all_gives_zero_ap() -> None:
    truth = GroundTruth(np.array([[0.0, 0, 10, 10]]), np.array([2]))
    empty = make_detections(np.zeros((0, 4)), [], [])
    report = evaluate([empty], [truth], NAMES, conf=0.25, iou=0.5)
    assert report.total.ap50 == 0.0 and report.total.recall == 0.0 and report.total.precision is None
    assert report.curves[0].precision.max() == 0.0


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def test_judged_picture_uses_one_style_for_each_verdict() -> None:
    image = Image.new("RGB", (400, 300), (90, 90, 90))
    truth = GroundTruth(np.array([[40.0, 60, 160, 200], [250, 60, 350, 200]]), np.array([0, 0]))
    dets = make_detections([[50, 70, 170, 210], [200, 220, 260, 280]], [0.9, 0.8], [0, 0])
    report = evaluate([dets], [truth], NAMES, conf=0.5, iou=0.5)
    picture = draw_detections(image, report.images[0], NAMES)
    assert picture.size == image.size and image.getpixel((100, 100)) == (90, 90, 90)  # the input is untouched
    assert picture.getpixel((170, 150)) == _rgb(TP)  # right edge of the true positive
    assert picture.getpixel((260, 260)) == _rgb(FP)  # right edge of the false positive
    fn_edge = {picture.getpixel((350, y)) for y in range(80, 190)}  # right edge of the missed box: dashes
    assert _rgb(FN) in fn_edge and _rgb(OUTLINE) in fn_edge
    found_edge = {picture.getpixel((x, 60)) for x in range(60, 150)}
    assert _rgb(TRUTH) in found_edge
    inside = np.asarray(picture.crop((55, 75, 155, 195))).reshape(-1, 3)
    assert (inside == _rgb(OVERLAP)).all(axis=1).mean() > 0.05  # the intersection is hatched
    outside = np.asarray(picture.crop((180, 10, 240, 50))).reshape(-1, 3)
    assert (outside == (90, 90, 90)).all()


def test_picture_without_truth_and_the_explainer() -> None:
    image = Image.new("RGB", (200, 100), (90, 90, 90))
    report = evaluate([make_detections([[20, 20, 120, 80]], [0.9], [0])], [None], NAMES, conf=0.5, iou=0.5)
    assert draw_detections(image, report.images[0], NAMES).getpixel((120, 50)) == _rgb(PREDICTED)
    parts = iou_parts((0, 0, 10, 10), (5, 0, 15, 10))
    picture = iou_picture((0, 0, 10, 10), (5, 0, 15, 10), parts, size=20, pixels=200)
    assert picture.size == (201, 201)
    overlap = np.asarray(picture.crop((55, 10, 95, 90))).reshape(-1, 3)
    assert (overlap == _rgb(OVERLAP)).all(axis=1).mean() > 0.1
    assert not (np.asarray(picture.crop((110, 110, 200, 200))) == _rgb(OVERLAP)).all(axis=-1).any()
    assert iou_arithmetic(parts)[-1] == "IoU = intersection / union = 50 / 150 = **0.333**"


def test_figures_carry_the_report() -> None:
    truth = GroundTruth(np.array([[0.0, 0, 10, 10], [20, 0, 30, 10]]), np.array([0, 1]))
    dets = make_detections([[0, 0, 10, 10], [40, 0, 50, 10]], [0.9, 0.8], [0, 1])
    report = evaluate([dets], [truth], NAMES, conf=0.5, iou=0.5)
    pr = pr_figure(report.curves, 0.5)
    assert [t.name for t in pr.data if t.showlegend is not False] == ["class0 (AP50 1.00)", "class1 (AP50 0.00)"]
    cm = confusion_figure(report.confusion)
    z = np.array(cm.data[0].z, dtype=float)
    assert list(cm.data[0].x) == ["class0", "class1", BACKGROUND] and np.isnan(z[-1, -1])
    assert z[0, 0] == 1 and z[1, 2] == 1 and z[2, 1] == 1
    for figure in (pr, cm):  # built unchecked (light_figure): Plotly's validation accepts every property
        go.Figure(figure.to_dict())
        assert figure.layout.xaxis.tickfont.size == figure.layout.font.size >= 18
    assert pr.layout.legend.orientation == "h"
