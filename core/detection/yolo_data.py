"""YOLO-format detection datasets: find, validate (line-numbered label errors), summarise, copy for training.

A dataset is a folder with a ``data.yaml`` naming ``train`` and ``val`` image folders (relative
to the yaml, or to its ``path`` when that is relative and inside the folder) and the class
``names``. Labels live beside the images with ``images`` replaced by ``labels`` in the path, as
Ultralytics expects. Training never reads the user's yaml: :func:`copy_for_training` copies
the images and labels into the run folder with a ``data.yaml`` written by ConvLens (so a
``download:`` key, which Ultralytics would execute, is never used).
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from core.config import limits
from core.config.settings import get_settings
from core.datasets.shape_scenes import DET_TRANSFER_CLASSES, data_yaml, write_yolo_dataset
from core.datasets.uploads import extract_zip
from core.detection.boxes import GroundTruth, parse_yolo_labels
from core.errors import DatasetError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
SPLITS = ("train", "val")
LESSON_SIZE = 128  # the generated lesson's image side
LABEL_SUFFIXES = frozenset({".txt", ".yaml", ".yml"})  # what a YOLO dataset zip holds beside its images


@dataclass(frozen=True)
class DetSample:
    """One image and its label file (None: no objects in it)."""

    image: Path
    label: Path | None


@dataclass(frozen=True)
class DetDataset:
    """A validated YOLO dataset: its splits, classes, what it holds and what is wrong with it."""

    root: Path
    classes: tuple[str, ...]
    train: tuple[DetSample, ...]
    val: tuple[DetSample, ...]
    boxes_per_class: tuple[int, ...]  # over both splits
    sizes: tuple[tuple[int, int], ...]  # (width, height) of every image
    issues: tuple[str, ...]  # "labels/train/a.txt line 3: ..." per bad line

    def truth(self, sample: DetSample, width: int, height: int) -> GroundTruth:
        """The sample's boxes in pixels (bad lines left out)."""
        text = sample.label.read_text(errors="replace") if sample.label else ""
        names = dict(enumerate(self.classes))
        return parse_yolo_labels(text, names).to_ground_truth(width, height)


def _names(raw: object, where: Path) -> tuple[str, ...]:
    if isinstance(raw, dict) and all(isinstance(k, int) for k in raw) and sorted(raw) == list(range(len(raw))):
        raw = [raw[k] for k in range(len(raw))]
    if not isinstance(raw, list) or not raw or not all(isinstance(n, (str, int)) and str(n).strip() for n in raw):
        raise DatasetError(
            f"{where.name} must list the class names under `names:` (a list, or ids 0, 1, 2... mapped to names)."
        )
    return tuple(str(n).strip() for n in raw)


def _find_yaml(root: Path) -> Path:
    candidates = sorted(root.glob("*.yaml")) + sorted(root.glob("*/*.yaml"))
    if not candidates:
        raise DatasetError(f"No data.yaml in {root.name}: a YOLO dataset needs one naming train, val and names.")
    return next((p for p in candidates if p.name == "data.yaml"), candidates[0])


def _split_folder(spec: dict, key: str, base: Path, root: Path, yaml_name: str) -> Path:
    value = spec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{yaml_name} must name the `{key}:` image folder (one relative path, e.g. images/{key}).")
    folder = (base / value).resolve()
    if not folder.is_relative_to(root.resolve()):
        raise DatasetError(f"{yaml_name} `{key}: {value}` points outside the dataset folder; use a relative path.")
    if not folder.is_dir():
        raise DatasetError(f"{yaml_name} names `{key}: {value}`, but that folder does not exist in the dataset.")
    return folder


def _samples(folder: Path) -> list[DetSample]:
    images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    limits.DATASET_FILES.check(len(images))
    found = []
    for image in images:
        parts = list(image.with_suffix(".txt").parts)
        index = max((i for i, p in enumerate(parts) if p == "images"), default=None)
        label = Path(*parts[:index], "labels", *parts[index + 1 :]) if index is not None else image.with_suffix(".txt")
        found.append(DetSample(image, label if label.is_file() else None))
    return found


def load_det_dataset(path: str | Path) -> DetDataset:
    """Read and check the YOLO dataset at ``path``.

    Raises:
        DatasetError: no data.yaml, a yaml without names or splits, a split folder that is missing
            or outside the dataset, or a split with no images.
        LimitExceeded: too many images.
    """
    root = Path(path)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; choose a dataset folder with a data.yaml.")
    yaml_path = _find_yaml(root)
    try:
        spec = yaml.safe_load(yaml_path.read_text(errors="replace"))
    except yaml.YAMLError as exc:
        raise DatasetError(f"{yaml_path.name} is not valid YAML ({exc}).") from None
    if not isinstance(spec, dict):
        raise DatasetError(f"{yaml_path.name} must be a mapping with train, val and names.")
    classes = _names(spec.get("names"), yaml_path)
    base = yaml_path.parent
    if isinstance(spec.get("path"), str) and not Path(spec["path"]).is_absolute():
        base = base / spec["path"]
    splits = {k: _samples(_split_folder(spec, k, base, root, yaml_path.name)) for k in SPLITS}
    for key, samples in splits.items():
        if not samples:
            raise DatasetError(f"The `{key}` folder of {yaml_path.name} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
    return _summarise(root, classes, splits)


def _summarise(root: Path, classes: tuple[str, ...], splits: dict[str, list[DetSample]]) -> DetDataset:
    names = dict(enumerate(classes))
    counts: Counter[int] = Counter()
    issues, sizes = [], []
    for sample in (*splits["train"], *splits["val"]):
        if sample.label is not None:
            labels = parse_yolo_labels(sample.label.read_text(errors="replace"), names)
            counts.update(labels.classes.tolist())
            where = sample.label.relative_to(root) if sample.label.is_relative_to(root) else sample.label.name
            issues += [f"{where} {issue}" for issue in labels.issues]
        try:
            with Image.open(sample.image) as image:
                sizes.append(image.size)
        except (OSError, ValueError):
            issues.append(f"{sample.image.relative_to(root)}: not a readable image")
    return DetDataset(
        root,
        classes,
        tuple(splits["train"]),
        tuple(splits["val"]),
        tuple(counts.get(k, 0) for k in range(len(classes))),
        tuple(sizes),
        tuple(issues),
    )


def copy_for_training(dataset: DetDataset, dest: Path) -> Path:
    """Copy images and labels to ``dest/{images,labels}/{train,val}`` with ConvLens' own data.yaml; returns it.

    Raises:
        DatasetError: the dataset has label or image issues (they are listed; fix them first).
    """
    if dataset.issues:
        shown = "; ".join(dataset.issues[:5]) + (
            f"; and {len(dataset.issues) - 5} more" if len(dataset.issues) > 5 else ""
        )
        raise DatasetError(f"The dataset has {len(dataset.issues)} problem(s) to fix before training: {shown}.")
    for split, samples in zip(SPLITS, (dataset.train, dataset.val), strict=True):
        (dest / "images" / split).mkdir(parents=True, exist_ok=True)
        (dest / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i, sample in enumerate(samples):
            stem = f"{i:05d}_{sample.image.stem}"[:80]
            shutil.copyfile(sample.image, dest / "images" / split / f"{stem}{sample.image.suffix.lower()}")
            if sample.label is not None:
                shutil.copyfile(sample.label, dest / "labels" / split / f"{stem}.txt")
    (dest / "data.yaml").write_text(data_yaml(dest, dataset.classes))
    return dest / "data.yaml"


def generated_det_dataset(train_images: int = 120, val_images: int = 40) -> Path:
    """The lesson's dataset: shapes the classroom detector never saw (ring, arrow, checker), written on first use."""
    root = get_settings().home / "generated" / f"det-shapes-new-classes-{train_images}-{val_images}"
    if not root.is_dir():
        try:
            write_yolo_dataset(root, DET_TRANSFER_CLASSES, train_images, val_images, seed=0, size=LESSON_SIZE)
        except (ValueError, OSError):  # another session wrote it at the same moment
            if not root.is_dir():
                raise
    return root


def extract_yolo_zip(data: bytes, name: str = "dataset.zip") -> Path:
    """Unpack an uploaded YOLO dataset zip: its images, label files and data.yaml, nothing else.

    The checks of :func:`core.datasets.uploads.extract_zip` apply (paths, links, sizes, zip bombs).
    """
    return extract_zip(data, name, also=LABEL_SUFFIXES)


def list_det_datasets() -> dict[str, Path]:
    """Folders with a ``.yaml`` in the data folder and the uploads, then the generated lesson, by label."""
    settings = get_settings()
    found = {}
    for folder, suffix in ((settings.data_dir, ""), (settings.uploads_dir, " (uploaded)")):
        if folder.is_dir():
            for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if any(sub.glob("*.yaml")) or any(sub.glob("*/*.yaml")):
                    found[sub.name + suffix] = sub
    found[f"generated shapes: {', '.join(DET_TRANSFER_CLASSES)} (new to the classroom detector)"] = (
        generated_det_dataset()
    )
    return found


def class_counts_rows(dataset: DetDataset) -> list[dict[str, object]]:
    """Rows for the boxes-per-class table."""
    return [{"class": c, "boxes": n} for c, n in zip(dataset.classes, dataset.boxes_per_class, strict=True)]


def size_summary(dataset: DetDataset) -> str:
    """The image sizes in one line: distinct sizes, or the range when there are many."""
    sizes = np.asarray(dataset.sizes).reshape(-1, 2)
    distinct = sorted({(int(w), int(h)) for w, h in sizes})
    if len(distinct) <= 3:
        return ", ".join(f"{w}x{h}" for w, h in distinct)
    return f"widths {sizes[:, 0].min()}-{sizes[:, 0].max()}, heights {sizes[:, 1].min()}-{sizes[:, 1].max()} pixels"
