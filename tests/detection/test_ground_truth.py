"""Ground truth the metrics use (label files -> table rows -> boxes) and which model file the picker loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.detection import (
    UPLOAD,
    DetectionBatch,
    GroundTruth,
    Sized,
    model_menu,
    results_key,
    shipped_labels,
    truth_table,
    truths_from_table,
)
from core.detection.boxes import make_detections
from core.errors import WeightsUnavailable
from tests.conftest import shared_path

NAMES = {0: "person", 5: "bus"}
BUS = Sized("bus.jpg", True, (810, 1080))


def test_shipped_labels_become_pixel_rows_for_the_sample_only() -> None:
    upload = Sized("bus.png", False, (810, 1080))
    table = truth_table([BUS, upload], names=NAMES)
    first = shipped_labels(NAMES)["bus"].splitlines()[0].split()  # "5 cx cy w h", normalised
    cx, cy, w, h = (float(v) for v in first[1:])
    assert table.rows[0] == {
        "image": "bus.jpg",
        "class": "bus",
        "x1": round((cx - w / 2) * 810, 1),
        "y1": round((cy - h / 2) * 1080, 1),
        "x2": round((cx + w / 2) * 810, 1),
        "y2": round((cy + h / 2) * 1080, 1),
    }
    assert {r["image"] for r in table.rows} == {"bus.jpg"} and table.labelled == {"bus.jpg"}
    assert truth_table([BUS, upload], names=NAMES, shipped=False).rows == ()


def test_user_files_win_bad_lines_are_listed_and_unreadable_files_skipped() -> None:
    cup = Sized("cup.png", False, (100, 50))
    files = {"bus.txt": b"\xef\xbb\xbf0 0.5 0.5 0.2 0.2\n0 0.5 0.5\n", "cup.txt": "\n" * 20_000, "dog.txt": "0"}
    table = truth_table([BUS, cup], files, names=NAMES)
    assert [(r["image"], r["class"], r["x1"], r["y2"]) for r in table.rows] == [("bus.jpg", "person", 324.0, 648.0)]
    assert [(source, [i.line for i in issues]) for source, issues in table.issues] == [("bus.txt", [2])]
    assert len(table.errors) == 1 and "cup.txt" in table.errors[0]  # too long: skipped, named, the rest used
    assert table.unmatched == ("dog.txt",)
    assert table.origin != truth_table([BUS], files, names=NAMES).origin  # other images: a fresh table
    assert table.origin == truth_table([BUS, cup], files, names=NAMES).origin  # the same inputs: the same table


def test_edited_rows_become_the_truth_and_an_image_without_rows_or_labels_is_unlabelled() -> None:
    rows = [
        {"image": "bus.jpg", "class": "bus", "x1": 10.0, "y1": 20.0, "x2": 110.0, "y2": 220.0},
        {"image": "bus.jpg", "class": "cat", "x1": 1.0, "y1": 1.0, "x2": 2.0, "y2": 2.0},
        {"image": "bus.jpg", "class": None, "x1": None, "y1": None, "x2": None, "y2": None},  # just added
    ]
    rocket, labelled = Sized("rocket.jpg", False, (300, 300)), Sized("zidane.jpg", True, (1280, 720))
    found = truths_from_table(rows, [BUS, rocket, labelled], NAMES, {"bus.jpg", "zidane.jpg"})
    bus, nothing, emptied = found.truths
    np.testing.assert_array_equal(bus.boxes, [[10.0, 20.0, 110.0, 220.0]])
    np.testing.assert_array_equal(bus.classes, [5])
    assert nothing is None  # no label file, no row: boxes shown, not judged
    assert emptied is not None and len(emptied) == 0  # its labelled boxes were all deleted: judged, all FP
    assert [(name, [i.line for i in issues]) for name, issues in found.issues] == [("bus.jpg", [2])]


def _batch(scores: list[float]) -> DetectionBatch:
    boxes = np.array([[0, 0, 10, 10]] * len(scores), dtype=np.float32)
    found = make_detections(boxes, np.array(scores, dtype=np.float32), np.zeros(len(scores), dtype=np.int64))
    return DetectionBatch("m", NAMES, (found,), ((64, 64),), 0.1, "cpu")


def test_results_key_changes_with_any_box_score_or_truth() -> None:
    truth = GroundTruth(np.array([[0.0, 0.0, 10.0, 10.0]]), np.array([0]))
    key = results_key(_batch([0.9]), [truth])
    assert key == results_key(_batch([0.9]), [truth])
    moved = GroundTruth(np.array([[0.0, 0.0, 10.0, 11.0]]), np.array([0]))
    assert len({key, results_key(_batch([0.8]), [truth]), results_key(_batch([0.9]), [moved])}) == 3
    empty = GroundTruth(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    assert results_key(_batch([0.9]), [None]) != results_key(_batch([0.9]), [empty])  # unlabelled is not "no boxes"


def test_the_menu_resolves_names_files_and_upload(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(shared_path("weights")))
    menu = model_menu()
    assert menu.default == "yolov8n" and menu.keys[-1] == UPLOAD
    assert menu.option("yolov8n").path == shared_path("weights", "yolov8n_int8_openvino_model")
    ball = menu.option("ball_yolov9t.pt")
    assert ball.path == shared_path("weights", "ball_yolov9t.pt")
    assert ball.label == "ball_yolov9t.pt (PyTorch) · weights folder"
    assert "yolov8n_int8_openvino_model" not in menu.keys  # found by its name: listed once
    assert isinstance(menu.option("yolo11s").missing, WeightsUnavailable) and menu.option("yolo11s").path is None
    with pytest.raises(ValueError, match="Unknown detection model 'nope'"):
        menu.option("nope")
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(tmp_path))  # an empty folder: the shipped shapes model
    assert model_menu().default == "convlens-shapes"
