"""The generated detection set: exact boxes (oracle: the pixels the objects changed), YOLO files, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from core.datasets.shape_scenes import (
    DET_BASE_CLASSES,
    DET_TRANSFER_CLASSES,
    MAX_OBJECTS,
    render_scene,
    write_yolo_dataset,
)
from core.detection.boxes import parse_yolo_labels


@pytest.mark.parametrize("index", range(12))
def test_each_box_is_the_tight_box_of_the_pixels_its_object_changed(index: int) -> None:
    """Oracle: the same scene drawn without objects (same background and noise); objects never overlap."""
    scene = render_scene(DET_BASE_CLASSES + DET_TRANSFER_CLASSES, 3, "train", index, 96)
    empty = render_scene(DET_BASE_CLASSES + DET_TRANSFER_CLASSES, 3, "train", index, 96, objects=False)
    changed = np.abs(scene.image.astype(int) - empty.image.astype(int)).max(axis=2) > 0
    assert 1 <= len(scene.boxes) <= MAX_OBJECTS
    covered = np.zeros_like(changed)
    for x0, y0, x1, y1 in scene.boxes:
        covered[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = True
        rows, cols = np.nonzero(changed[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1])
        # The box marks pixels at least 25% covered; faint anti-aliased edges may add one pixel a side.
        assert abs(max(x0 - 1, 0) + cols.min() - x0) <= 1 and abs(max(x0 - 1, 0) + cols.max() + 1 - x1) <= 1
        assert abs(max(y0 - 1, 0) + rows.min() - y0) <= 1 and abs(max(y0 - 1, 0) + rows.max() + 1 - y1) <= 1
    assert not (changed & ~covered).any()  # nothing drawn outside the boxes
    for i, (a, b) in enumerate(zip(scene.boxes[:-1], scene.boxes[1:], strict=True)):  # and boxes never overlap
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], i


def test_boxes_agree_with_the_masks() -> None:
    scene = render_scene(DET_BASE_CLASSES, 0, "val", 5, 128)
    for (x0, y0, x1, y1), mask in zip(scene.boxes, scene.masks, strict=True):
        ys, xs = np.nonzero(mask > 0.25)
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x0, y0, x1, y1)


def test_dataset_on_disk_is_yolo_format_and_deterministic(tmp_path: Path) -> None:
    first = write_yolo_dataset(tmp_path / "a", DET_TRANSFER_CLASSES, 3, 2, seed=1, size=64)
    second = write_yolo_dataset(tmp_path / "b", DET_TRANSFER_CLASSES, 3, 2, seed=1, size=64)
    other = write_yolo_dataset(tmp_path / "c", DET_TRANSFER_CLASSES, 3, 2, seed=2, size=64)
    spec = yaml.safe_load(first.read_text())
    assert spec["names"] == dict(enumerate(DET_TRANSFER_CLASSES)) and "download" not in spec
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*") if p.name != "data.yaml")
    assert len(files) == 10
    for rel in files:
        assert (first.parent / rel).read_bytes() == (second.parent / rel).read_bytes()
    assert any((first.parent / r).read_bytes() != (other.parent / r).read_bytes() for r in files)
    scene = render_scene(DET_TRANSFER_CLASSES, 1, "val", 1, 64)
    labels = parse_yolo_labels((tmp_path / "a" / "labels" / "val" / "val_00001.txt").read_text(), {0: "", 1: "", 2: ""})
    assert labels.issues == () and labels.classes.tolist() == scene.labels.tolist()
    np.testing.assert_allclose(labels.boxes * 64, scene.boxes, atol=1e-4)


def test_splits_are_independent_streams_and_bad_arguments_are_named() -> None:
    assert not np.array_equal(
        render_scene(DET_BASE_CLASSES, 0, "train", 0).image, render_scene(DET_BASE_CLASSES, 0, "val", 0).image
    )
    with pytest.raises(ValueError, match="classes"):
        write_yolo_dataset("/nonexistent/x", ("blob",), 1, 1)
    with pytest.raises(ValueError, match="size"):
        write_yolo_dataset("/nonexistent/x", DET_BASE_CLASSES, 1, 1, size=16)
