"""Image-classification datasets in ImageFolder layout: find, check, split and summarise them.

A dataset is a folder with ``train/`` and ``val/`` holding one subfolder per class, or one
folder of class subfolders that is split by a seeded, stratified ratio. Files that are not
images are skipped and reported (torchvision's ``ImageFolder`` extensions decide, so
hymenoptera's ``train/ants/imageNotFound.gif`` is left out exactly as the PyTorch tutorial
leaves it out). Uploaded zips are unpacked by :mod:`core.datasets.uploads`; the datasets offered are
listed by :mod:`core.datasets.catalog`, previewed by :mod:`core.datasets.previews`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from torchvision.datasets.folder import IMG_EXTENSIONS

from core.config import limits
from core.errors import DatasetError

TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation")
IGNORED = ("__MACOSX",)  # folders that zip tools add
ZIP_SKIPPED = ".skipped-in-zip.json"  # members of an uploaded zip that were not images, never unpacked
# Teaching heuristics for warnings (not server limits): below these, say what to expect.
FEW_PER_CLASS = 20
FEW_VAL = 30
UNBALANCED = 2.0


@dataclass(frozen=True)
class Sample:
    """One image file and its class index."""

    path: Path
    label: int


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of the dataset, with why (relative to the dataset's root)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Dataset:
    """A checked dataset: its classes, the train/val split and what was left out.

    ``presplit`` is True when the folder had its own ``train/`` and ``val/``; otherwise the
    split was drawn with ``val_ratio`` and ``seed``.
    """

    root: Path
    name: str
    classes: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    presplit: bool
    val_ratio: float | None
    seed: int
    skipped: tuple[SkippedFile, ...]
    total_bytes: int

    def counts(self, split: str) -> tuple[int, ...]:
        """Images per class in ``split`` (``"train"`` or ``"val"``)."""
        samples = self.train if split == "train" else self.val
        counts = [0] * len(self.classes)
        for sample in samples:
            counts[sample.label] += 1
        return tuple(counts)

    @property
    def warnings(self) -> tuple[str, ...]:
        """What a teacher should know before training on this data."""
        found = []
        train = self.counts("train")
        few = [f"{c} ({n})" for c, n in zip(self.classes, train, strict=True) if n < FEW_PER_CLASS]
        if few:
            found.append(
                f"Few training images in {', '.join(few)}: with this little data, feature extraction "
                "(a frozen backbone) usually beats fine-tuning, which can overfit."
            )
        if max(train) > UNBALANCED * min(train):
            top = max(range(len(train)), key=train.__getitem__)
            val = self.counts("val")
            share = val[top] / max(sum(val), 1)
            found.append(
                f"The classes are unbalanced ({', '.join(f'{c} {n}' for c, n in zip(self.classes, train, strict=True))}"
                f" training images): always answering '{self.classes[top]}' already scores {share:.0%} on "
                "validation. Compare accuracies with that, and read the confusion matrices."
            )
        if len(self.val) < FEW_VAL:
            found.append(
                f"Only {len(self.val)} validation images: each is {1 / len(self.val):.0%} of accuracy, "
                "so small differences between strategies mean little."
            )
        if self.skipped:
            found.append(f"{len(self.skipped)} file(s) were skipped because they are not images; see the list.")
        return tuple(found)


def _visible(path: Path | str) -> bool:
    name = Path(path).name
    return not name.startswith(".") and name not in IGNORED


def subfolders(path: Path) -> list[Path]:
    """The visible folders in ``path``, sorted by name (hidden ones and zip tools' ``__MACOSX`` left out)."""
    return sorted(p for p in path.iterdir() if p.is_dir() and _visible(p))


def _named(path: Path, names: tuple[str, ...]) -> Path | None:
    return next((p for p in subfolders(path) if p.name.lower() in names), None)


def find_root(path: Path) -> Path:
    """Descend through wrapper folders (a zip's single top folder) to the dataset itself."""
    while True:
        subdirs = subfolders(path)
        has_files = any(p.is_file() and _visible(p) for p in path.iterdir())
        if len(subdirs) != 1 or has_files or not subfolders(subdirs[0]) or _named(path, TRAIN_NAMES):
            return path
        path = subdirs[0]


class _Scan:
    """Walks class folders once, counting every file against the server's limits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0
        self.skipped: list[SkippedFile] = []

    def images(self, folder: Path) -> list[Path]:
        found = []
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or not all(_visible(part) for part in path.relative_to(self.root).parts):
                continue
            self.files += 1
            limits.DATASET_FILES.check(self.files)
            if path.suffix.lower() not in IMG_EXTENSIONS:
                why = f"'{path.suffix or 'no extension'}' is not an image type torchvision's ImageFolder reads"
                self.skipped.append(SkippedFile(str(path.relative_to(self.root)), why))
                continue
            self.bytes += path.stat().st_size
            limits.DATASET_BYTES.check(self.bytes)
            found.append(path)
        return found

    def split(self, folder: Path, classes: list[str]) -> tuple[list[Sample], list[str]]:
        """Samples of ``folder``'s class subfolders, and the classes that hold no image."""
        samples, empty = [], []
        for label, name in enumerate(classes):
            files = self.images(folder / name) if (folder / name).is_dir() else []
            if not files:
                empty.append(str((folder / name).relative_to(self.root)))
            samples.extend(Sample(path, label) for path in files)
        return samples, empty


def _check_classes(classes: list[str], where: Path) -> None:
    if len(classes) < 2:
        found = f"only '{classes[0]}'" if classes else "no class folders"
        raise DatasetError(
            f"The dataset in '{where.name}' has {found}: classification needs at least 2 classes, "
            "one subfolder of images per class (ImageFolder layout: train/<class>/*.jpg, val/<class>/*.jpg)."
        )


def stratified_split(samples: list[Sample], classes: list[str], val_ratio: float, seed: int) -> tuple[list, list]:
    """Split ``samples`` class by class: a seeded ``val_ratio`` of each class goes to validation.

    Raises:
        ValueError: ``val_ratio`` is outside [0.05, 0.5].
        DatasetError: a class has fewer than 2 images, so it cannot be in both splits.
    """
    if not 0.05 <= val_ratio <= 0.5:
        raise ValueError(f"val_ratio must be between 0.05 and 0.5, got {val_ratio}.")
    rng = random.Random(seed)
    train, val = [], []
    for label, name in enumerate(classes):
        members = sorted((s for s in samples if s.label == label), key=lambda s: s.path)
        if len(members) < 2:
            raise DatasetError(
                f"Class '{name}' has {len(members)} image(s); at least 2 are needed to keep one for validation. "
                "Add images to it."
            )
        rng.shuffle(members)
        cut = min(max(1, round(len(members) * val_ratio)), len(members) - 1)
        val.extend(members[:cut])
        train.extend(members[cut:])
    return train, val


def load_dataset(path: str | Path, val_ratio: float = 0.2, seed: int = 0) -> Dataset:
    """Scan and check the dataset in ``path``, and split it when it has no ``val/`` folder.

    Args:
        path: a dataset folder (wrapper folders, as zips often have, are descended).
        val_ratio: the share of each class kept for validation when the folder is not split.
        seed: seeds that split.

    Raises:
        DatasetError: missing folder, fewer than 2 classes, empty classes, or classes that
            differ between ``train/`` and ``val/``.
        LimitExceeded: more files or bytes than :mod:`core.config.limits` allows.
    """
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"Dataset folder '{path}' does not exist. Choose another dataset or upload a zip.")
    root = find_root(path)
    scan = _Scan(root)
    if (path / ZIP_SKIPPED).is_file():
        reason = "not an image: left in the zip, never unpacked"
        scan.skipped += [SkippedFile(name, reason) for name in json.loads((path / ZIP_SKIPPED).read_text())]
    train_dir, val_dir = _named(root, TRAIN_NAMES), _named(root, VAL_NAMES)
    presplit = train_dir is not None and val_dir is not None
    source = train_dir or root
    classes = [p.name for p in subfolders(source)]
    _check_classes(classes, root)
    train, empty = scan.split(source, classes)
    val: list[Sample] = []
    if presplit:
        val_classes = [p.name for p in subfolders(val_dir)]
        if set(val_classes) != set(classes):
            raise DatasetError(
                f"train/ has classes {', '.join(classes)} but {val_dir.name}/ has {', '.join(val_classes) or 'none'}: "
                "both need the same class folders."
            )
        val, empty_val = scan.split(val_dir, classes)
        empty += empty_val
    if empty:
        raise DatasetError(
            f"Empty class folder(s): {', '.join(empty)}. Every class needs images; add some or remove the empty folder."
        )
    if not presplit:
        train, val = stratified_split(train, classes, val_ratio, seed)
    return Dataset(
        root=root,
        name=path.name,
        classes=tuple(classes),
        train=tuple(train),
        val=tuple(val),
        presplit=presplit,
        val_ratio=None if presplit else val_ratio,
        seed=seed,
        skipped=tuple(scan.skipped),
        total_bytes=scan.bytes,
    )
