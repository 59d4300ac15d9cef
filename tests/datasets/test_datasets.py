"""Datasets: ImageFolder scanning, the seeded split, safe zip extraction, decoding once."""

import io
import zipfile
from pathlib import Path

import pytest
import torch

from core.config import limits
from core.config.limits import LimitExceeded
from core.config.settings import get_settings
from core.datasets.catalog import list_datasets
from core.datasets.folders import load_dataset
from core.datasets.tensors import Preprocess, decode_split
from core.datasets.uploads import extract_zip
from core.errors import DatasetError
from core.models import registry as zoo
from tests.conftest import shared_path
from tests.tiny_datasets import dataset_zip, image_bytes, make_dataset, zip_bytes


def test_presplit_folder_counts_every_class(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"ants": 5, "bees": 3}, val_counts={"ants": 2, "bees": 4})
    dataset = load_dataset(root)
    assert dataset.presplit and dataset.classes == ("ants", "bees")
    assert dataset.counts("train") == (5, 3) and dataset.counts("val") == (2, 4)
    assert all(s.path.parent.name == dataset.classes[s.label] for s in dataset.train + dataset.val)


def test_flat_folder_is_split_per_class_by_seed(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"cats": 20, "dogs": 10, "owls": 2})
    first, again = load_dataset(root, 0.25, seed=3), load_dataset(root, 0.25, seed=3)
    other = load_dataset(root, 0.25, seed=4)
    assert not first.presplit
    assert first.counts("val") == (5, 2, 1) and first.counts("train") == (15, 8, 1)
    assert first.val == again.val and first.val != other.val
    assert not {s.path for s in first.train} & {s.path for s in first.val}


def test_hymenoptera_counts_match_imagefolder_and_report_the_gif() -> None:
    dataset = load_dataset(shared_path("data", "hymenoptera_data"))
    assert dataset.counts("train") == (123, 121) and dataset.counts("val") == (70, 83)
    assert [s.path for s in dataset.skipped] == ["train/ants/imageNotFound.gif"]
    assert "ImageFolder" in dataset.skipped[0].reason


def test_non_images_are_skipped_and_reported(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"a": 4, "b": 4})
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "b" / "fake.jpg").write_bytes(b"text pretending to be a JPEG" * 10)
    dataset = load_dataset(root, 0.25)
    assert [s.path for s in dataset.skipped] == ["a/notes.txt"]
    assert any("not images" in w for w in dataset.warnings)
    preprocess = Preprocess.for_model(zoo.entry("resnet18").transforms(), 32)
    decoded = decode_split(dataset.train + dataset.val, preprocess, dataset.root)
    assert len(decoded) == 8 and [s.path for s in decoded.skipped] == ["b/fake.jpg"]
    assert "not an image" in decoded.skipped[0].reason


@pytest.mark.parametrize(
    ("counts", "val_counts", "message"),
    [
        ({"only": 5}, None, "only 'only'.*at least 2 classes"),
        ({"a": 5, "b": 0}, None, r"Empty class folder\(s\): b\."),
        ({"a": 5, "b": 4}, {"a": 2, "b": 0}, r"Empty class folder\(s\): val/b"),
        ({"a": 5, "b": 4}, {"a": 2, "c": 1}, "both need the same class folders"),
        ({"a": 5, "b": 1}, None, "Class 'b' has 1 image"),
    ],
)
def test_unusable_datasets_say_why(tmp_path: Path, counts: dict, val_counts: dict | None, message: str) -> None:
    root = make_dataset(tmp_path / "d", counts, val_counts)
    with pytest.raises(DatasetError, match=message):
        load_dataset(root)


def test_warnings_for_small_and_unbalanced_data(tmp_path: Path) -> None:
    dataset = load_dataset(make_dataset(tmp_path / "d", {"many": 40, "few": 10}), 0.2)
    text = " ".join(dataset.warnings)
    assert "Few training images in few (8)" in text
    assert "unbalanced" in text and "always answering 'many' already scores 80%" in text
    assert "Only 10 validation images" in text


def test_decoding_makes_uint8_squares_and_centre_crops_match(tmp_path: Path) -> None:
    dataset = load_dataset(make_dataset(tmp_path / "d", {"a": 2, "b": 2}, val_counts={"a": 1, "b": 1}))
    preprocess = Preprocess.for_model(zoo.entry("resnet18").transforms(), 32)
    assert (preprocess.size, preprocess.resize) == (32, 37)
    decoded = decode_split(dataset.train, preprocess, dataset.root)
    assert decoded.images.dtype == torch.uint8 and decoded.images.shape == (4, 3, 37, 37)
    batch = preprocess.batch(decoded.images)
    assert batch.shape == (4, 3, 32, 32) and batch.dtype == torch.float32
    views = preprocess.batch(decoded.images, torch.Generator().manual_seed(0))
    assert views.shape == batch.shape and not torch.equal(views, batch)


def test_data_folder_and_uploads_are_listed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVLENS_DATA_DIR", str(tmp_path / "data"))
    make_dataset(tmp_path / "data" / "flowers")
    extract_zip(dataset_zip(), "mine.zip")
    labels = [c.label for c in list_datasets()]
    assert labels[0] == "flowers" and labels[1].startswith("mine-") and labels[1].endswith("(uploaded)")


def test_zip_is_unpacked_into_uploads_and_reused() -> None:
    data = dataset_zip("wrapper/shapes/")
    folder = extract_zip(data, "shapes.zip")
    assert folder.parent == get_settings().uploads_dir
    dataset = load_dataset(folder, 0.25)
    assert dataset.root.name == "shapes" and dataset.classes == ("ants", "bees")
    assert extract_zip(data, "shapes.zip") == folder
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temporary folder left


def _uploads() -> list[Path]:
    folder = get_settings().uploads_dir
    return sorted(folder.rglob("*")) if folder.exists() else []


@pytest.mark.parametrize("name", ["../evil.png", "ok/../../evil.png", "/etc/evil.png", "C:/evil.png"])
def test_zip_with_escaping_paths_is_refused_and_nothing_written(tmp_path: Path, name: str) -> None:
    data = zip_bytes({"d/a/1.png": image_bytes(0, 1), name: image_bytes(0, 2)})
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        extract_zip(data, "evil.zip")
    assert _uploads() == [] and not (tmp_path.parent / "evil.png").exists()


def test_zip_bomb_is_refused_before_writing() -> None:
    data = zip_bytes({"d/a/1.png": image_bytes(0, 1), "d/a/bomb.bmp": bytes(20_000_000)})
    with pytest.raises(LimitExceeded, match="zip bomb"):
        extract_zip(data, "bomb.zip")
    assert _uploads() == []


def test_zip_limits_on_files_and_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    data = dataset_zip(counts={"a": 3, "b": 3})
    monkeypatch.setattr(limits, "DATASET_FILES", limits.Limit(5, limits.DATASET_FILES.message))
    with pytest.raises(LimitExceeded, match="at most 5 are allowed"):
        extract_zip(data, "many.zip")
    monkeypatch.setattr(limits, "DATASET_FILES", limits.Limit(100, limits.DATASET_FILES.message))
    monkeypatch.setattr(limits, "UPLOAD_UNPACKED_BYTES", limits.Limit(10_000, limits.UPLOAD_UNPACKED_BYTES.message))
    with pytest.raises(LimitExceeded, match="unpacks to"):
        extract_zip(data, "big.zip")
    assert _uploads() == []


def test_not_a_zip_and_symlinks_are_refused() -> None:
    with pytest.raises(DatasetError, match="not a readable zip"):
        extract_zip(b"PK\x03\x04 but not really", "broken.zip")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("d/a/link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetError, match="symbolic link"):
        extract_zip(buffer.getvalue(), "link.zip")
    assert _uploads() == []
