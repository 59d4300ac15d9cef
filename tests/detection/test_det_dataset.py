"""YOLO datasets from a folder or a zip: line-numbered label errors, clear data.yaml errors, safe copies."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from core.datasets.shape_scenes import DET_TRANSFER_CLASSES, write_yolo_dataset
from core.datasets.uploads import extract_zip
from core.detection.yolo_data import copy_for_training, extract_yolo_zip, load_det_dataset, size_summary
from core.errors import DatasetError


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    write_yolo_dataset(tmp_path / "ds", DET_TRANSFER_CLASSES, 4, 2, seed=0, size=64)
    return tmp_path / "ds"


def test_a_generated_dataset_reads_back_with_its_summary(dataset: Path) -> None:
    data = load_det_dataset(dataset)
    assert data.classes == DET_TRANSFER_CLASSES and len(data.train) == 4 and len(data.val) == 2
    total = sum(len(p.read_text().splitlines()) for p in (dataset / "labels").rglob("*.txt"))
    assert sum(data.boxes_per_class) == total and data.issues == ()
    assert size_summary(data) == "64x64"


def test_bad_label_lines_are_reported_with_file_and_line(dataset: Path) -> None:
    label = dataset / "labels" / "train" / "train_00002.txt"
    label.write_text(label.read_text() + "7 0.5 0.5 0.1 0.1\n0 0.5 nan 0.1 0.1\n0 0.5\n")
    lines = len(label.read_text().splitlines())
    issues = load_det_dataset(dataset).issues
    assert len(issues) == 3
    assert issues[0].startswith(f"labels/train/train_00002.txt line {lines - 2}: class id 7 is unknown")
    assert f"line {lines}: expected 5 values" in issues[2]
    with pytest.raises(DatasetError, match="3 problem"):
        copy_for_training(load_det_dataset(dataset), dataset.parent / "copy")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"val": "images/missing"}, "names `val: images/missing`, but that folder does not exist"),
        ({"train": "../../etc"}, "points outside the dataset folder"),
        ({"names": []}, "must list the class names"),
        ({"train": None}, "must name the `train:` image folder"),
    ],
)
def test_a_data_yaml_naming_missing_folders_or_classes_is_explained(dataset: Path, change: dict, message: str) -> None:
    spec = {**yaml.safe_load((dataset / "data.yaml").read_text()), **change}
    (dataset / "data.yaml").write_text(yaml.safe_dump(spec))
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_det_dataset(dataset)


def test_training_copy_never_keeps_a_download_key(dataset: Path, tmp_path: Path) -> None:
    """Ultralytics executes a data.yaml's `download:` (Python or bash): ConvLens writes its own yaml."""
    spec = yaml.safe_load((dataset / "data.yaml").read_text())
    spec.update(path=".", download="import os; os.system('touch /tmp/pwned')")
    (dataset / "data.yaml").write_text(yaml.safe_dump(spec))
    copied = copy_for_training(load_det_dataset(dataset), tmp_path / "run" / "data")
    written = yaml.safe_load(copied.read_text())
    assert "download" not in written and written["path"] == str((tmp_path / "run" / "data").resolve())
    assert len(list((tmp_path / "run" / "data" / "images").rglob("*.png"))) == 6


def test_an_uploaded_zip_unpacks_safely_and_loads(dataset: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path / "home"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in dataset.rglob("*"):
            if path.is_file():
                archive.write(path, f"shapes/{path.relative_to(dataset)}")
        archive.writestr("shapes/run.sh", "touch /tmp/pwned")
    folder = extract_yolo_zip(buffer.getvalue(), "shapes.zip")
    data = load_det_dataset(folder)  # data.yaml one level down, as zipping a folder makes it
    assert data.classes == DET_TRANSFER_CLASSES and len(data.val) == 2
    assert not (folder / "shapes" / "run.sh").exists()  # only images, labels and the yaml are written
    images_only = extract_zip(buffer.getvalue(), "shapes.zip")  # the classification lab's unpacking of it
    assert images_only != folder and not list(images_only.rglob("*.txt")) and not list(images_only.rglob("*.yaml"))
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../data.yaml", "names: [a]")
    with pytest.raises(DatasetError, match="outside"):
        extract_yolo_zip(evil.getvalue(), "evil.zip")
