"""Box formats, IoU (by hand and by property), YOLO label parsing and NMS on cached detections."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchvision.ops import box_iou, nms

from core.detection.boxes import (
    cxcywh_to_xyxy,
    filter_detections,
    format_yolo_labels,
    ground_truth_from_rows,
    iou_matrix,
    iou_parts,
    make_detections,
    parse_yolo_labels,
    truth_rows,
    xywh_to_xyxy,
    xyxy_to_cxcywh,
    xyxy_to_xywh,
)

NAMES = {0: "person", 5: "bus", 27: "tie"}


def iou(a, b) -> float:
    return float(iou_matrix([a], [b])[0, 0])


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),  # disjoint
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),  # touching along an edge: no area in common
        ((0, 0, 10, 10), (10, 10, 20, 20), 0.0),  # touching at a corner
        ((0, 0, 10, 10), (2, 2, 7, 7), 25 / 100),  # nested: the small one's area over the big one's
        ((3, 4, 9, 8), (3, 4, 9, 8), 1.0),  # identical
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),  # half overlap: 50 / (100 + 100 - 50)
        ((0, 0, 0, 10), (0, 0, 10, 10), 0.0),  # zero width
        ((5, 5, 5, 5), (5, 5, 5, 5), 0.0),  # identical points have no area, hence no overlap
        ((0, 0, 10, 0), (0, 0, 10, 0), 0.0),  # identical zero-height boxes
    ],
)
def test_iou_by_hand(a, b, expected) -> None:
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


def test_iou_matrix_agrees_with_torchvision_on_positive_boxes() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 100, size=(40, 2))
    both = np.concatenate([xy, xy + rng.uniform(1, 60, size=(40, 2))], axis=1)
    a, b = both[:20], both[20:]
    expected = box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.allclose(iou_matrix(a, b), expected)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (20, 0)


def test_iou_parts_are_the_explainers_arithmetic() -> None:
    parts = iou_parts((10, 10, 60, 50), (30, 20, 80, 70))
    assert (parts.area_a, parts.area_b) == (2000, 2500)
    assert parts.intersection == (30, 20, 60, 50) and parts.inter_area == 900
    assert parts.union == 3600 and parts.iou == pytest.approx(0.25)
    apart = iou_parts((0, 0, 10, 10), (10, 0, 20, 10))
    assert apart.intersection is None and apart.iou == 0.0 and apart.union == 200


def test_format_conversions_by_hand() -> None:
    assert xywh_to_xyxy([[10, 20, 30, 40]]).tolist() == [[10, 20, 40, 60]]
    assert xyxy_to_xywh([[10, 20, 40, 60]]).tolist() == [[10, 20, 30, 40]]
    assert np.allclose(cxcywh_to_xyxy([[0.5, 0.5, 0.2, 0.4]]), [[0.4, 0.3, 0.6, 0.7]])
    assert np.allclose(xyxy_to_cxcywh([[0.4, 0.3, 0.6, 0.7]]), [[0.5, 0.5, 0.2, 0.4]])
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        xywh_to_xyxy(np.zeros((2, 3)))


coordinate = st.floats(-1e4, 1e4, allow_nan=False)
side = st.floats(1e-2, 1e4, allow_nan=False)
boxes_xywh = st.tuples(coordinate, coordinate, side, side)


def _corners(box: tuple[float, float, float, float]) -> list[float]:
    x, y, w, h = box
    return [x, y, x + w, y + h]


@given(boxes_xywh, boxes_xywh)
def test_iou_is_symmetric_and_bounded(a, b) -> None:
    a, b = _corners(a), _corners(b)
    value = iou(a, b)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(iou(b, a), abs=1e-12)


@given(boxes_xywh)
def test_iou_of_a_box_with_itself_is_one(a) -> None:
    assert iou(_corners(a), _corners(a)) == pytest.approx(1.0)


@given(boxes_xywh, boxes_xywh, st.floats(1e-3, 1e3))
def test_iou_is_scale_invariant(a, b, scale) -> None:
    a, b = np.array(_corners(a)), np.array(_corners(b))
    assert iou(a * scale, b * scale) == pytest.approx(iou(a, b), abs=1e-6)


def test_labels_parse_and_every_bad_line_is_reported_with_its_number() -> None:
    text = "\n".join(
        [
            "0 0.5 0.5 0.2 0.4",  # 1: good
            "",  # 2: blank, ignored
            "# a comment",  # 3: ignored
            "5 0.5 0.5 0.2",  # 4: four values
            "0 0.5 nan 0.2 0.4",  # 5: NaN
            "0 0.5 0.5 1.2 0.4",  # 6: out of range
            "0 -0.1 0.5 0.2 0.4",  # 7: out of range
            "1 0.5 0.5 0.2 0.4",  # 8: unknown class
            "0.5 0.5 0.5 0.2 0.4",  # 9: class not whole
            "x 0.5 0.5 0.2 0.4",  # 10: not a number
            "27 0.5 0.5 0 0.4",  # 11: zero width
            "0 0.5 0.5 0.2 inf",  # 12: infinite
            "27 0.95 0.1 0.2 0.2  # a box sticking out is clipped",  # 13: good
        ]
    )
    labels = parse_yolo_labels(text, NAMES)
    assert labels.classes.tolist() == [0, 27]
    assert np.allclose(labels.boxes, [[0.4, 0.3, 0.6, 0.7], [0.85, 0.0, 1.0, 0.2]])
    reasons = {issue.line: issue.reason for issue in labels.issues}
    assert sorted(reasons) == [4, 5, 6, 7, 8, 9, 10, 11, 12]
    assert "expected 5 values" in reasons[4] and "found 4" in reasons[4]
    assert "NaN" in reasons[5] and "NaN" in reasons[12]
    assert "[0, 1]" in reasons[6] and "[0, 1]" in reasons[7]
    assert "class id 1 is unknown" in reasons[8]
    assert "whole number" in reasons[9]
    assert "numbers" in reasons[10]
    assert "above 0" in reasons[11]
    assert str(labels.issues[0]).startswith("line 4: expected 5 values")
    truth = labels.to_ground_truth(200, 100)
    assert np.allclose(truth.boxes[0], [80, 30, 120, 70])


def test_labels_without_names_accept_any_class_and_an_empty_file_is_empty() -> None:
    assert parse_yolo_labels("99 0.5 0.5 0.1 0.1").classes.tolist() == [99]
    empty = parse_yolo_labels("")
    assert empty.boxes.shape == (0, 4) and not empty.issues


unit = st.floats(0.0, 1.0)


@settings(max_examples=60)
@given(st.lists(st.tuples(st.integers(0, 79), unit, unit, unit, unit), max_size=8), st.integers(8, 4000))
def test_labels_round_trip_through_the_file_format(rows, size) -> None:
    corners = [[min(x1, x2), min(y1, y2), max(x1, x2) + 1.0, max(y1, y2) + 1.0] for _, x1, y1, x2, y2 in rows]
    pixels = np.array(corners).reshape(-1, 4) * (size - 1) / 2
    text = format_yolo_labels([c for c, *_ in rows], pixels, size, size)
    labels = parse_yolo_labels(text)
    assert not labels.issues
    assert labels.classes.tolist() == [c for c, *_ in rows]
    assert np.allclose(labels.to_ground_truth(size, size).boxes, pixels, atol=size * 2e-6)


@given(st.text(max_size=300))
def test_parsing_any_text_never_raises_and_accounts_for_every_line(text) -> None:
    labels = parse_yolo_labels(text, NAMES)
    meaningful = [line for line in text.splitlines() if line.split("#", 1)[0].split()]
    assert len(labels.classes) + len(labels.issues) == len(meaningful)
    assert np.isfinite(labels.boxes).all() and ((labels.boxes >= 0) & (labels.boxes <= 1)).all()


def test_hand_entered_rows() -> None:
    nan = math.nan
    rows = [
        {"class": "bus", "x1": 10, "y1": 20, "x2": 110, "y2": 90},
        {"class": "dragon", "x1": 10, "y1": 20, "x2": 110, "y2": 90},
        {"class": "person", "x1": 10, "y1": nan, "x2": 110, "y2": 90},
        {"class": "person", "x1": 50, "y1": 20, "x2": 40, "y2": 90},
        {"class": "person", "x1": 0, "y1": 0, "x2": 300, "y2": 90},
        {"image": "bus.jpg", "class": None, "x1": nan, "y1": nan, "x2": nan, "y2": nan},  # just added: ignored
    ]
    truth, issues = ground_truth_from_rows(rows, NAMES, width=200, height=100)
    assert truth.classes.tolist() == [5] and truth.boxes.tolist() == [[10, 20, 110, 90]]
    assert truth_rows("bus.jpg", truth, NAMES) == [
        {"image": "bus.jpg", "class": "bus", "x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 90.0}
    ]
    assert [i.line for i in issues] == [2, 3, 4, 5]
    assert "'dragon' is not one of the model's classes" in issues[0].reason
    assert "filled in" in issues[1].reason
    assert "x1 < x2 <= 200" in issues[2].reason and "x1 < x2 <= 200" in issues[3].reason
    assert str(issues[0]).startswith("row 2:")


def _random_detections(seed: int, count: int = 60):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 200, size=(count, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(10, 80, size=(count, 2))], axis=1)
    return make_detections(boxes, rng.uniform(0.001, 1, count), rng.integers(0, 3, count))


def test_make_detections_sorts_best_first() -> None:
    dets = make_detections([[0, 0, 1, 1], [0, 0, 2, 2], [0, 0, 3, 3]], [0.2, 0.9, 0.5], [1, 2, 3])
    assert dets.scores.tolist() == pytest.approx([0.9, 0.5, 0.2]) and dets.classes.tolist() == [2, 3, 1]


@pytest.mark.parametrize("iou_threshold", [0.3, 0.5, 0.7])
def test_filter_matches_torchvision_nms_class_by_class(iou_threshold: float) -> None:
    dets = _random_detections(1)
    kept = filter_detections(dets, conf=0.2, iou=iou_threshold, classes={0, 2})
    assert (np.diff(kept.scores) <= 0).all() and (kept.scores >= 0.2).all()
    assert set(kept.classes.tolist()) <= {0, 2}
    for class_id in (0, 2):
        mine = (dets.scores >= 0.2) & (dets.classes == class_id)
        expected = nms(torch.from_numpy(dets.boxes[mine]), torch.from_numpy(dets.scores[mine]), iou_threshold)
        assert sorted(kept.boxes[kept.classes == class_id].tolist()) == sorted(
            dets.boxes[mine][expected.numpy()].tolist()
        )


def test_filter_edges_and_bad_arguments() -> None:
    dets = _random_detections(2)
    assert len(filter_detections(dets)) == len(dets)  # conf 0 and IoU 1: everything
    assert len(filter_detections(dets, conf=1.0)) == 0
    assert len(filter_detections(dets, classes=[])) == 0
    with pytest.raises(ValueError, match="conf must be between 0 and 1"):
        filter_detections(dets, conf=1.5)
    with pytest.raises(ValueError, match="iou must be above 0"):
        filter_detections(dets, iou=0)
