"""The image sets the "what units learned" page can run a model over.

The sample photos, the classroom shapes (the six classes Tiny VGG learned, generated once),
and every dataset the transfer page offers (:func:`core.datasets.catalog.list_datasets`: the data
folder, uploaded zips such as hymenoptera, the generated new shapes).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.config.settings import get_settings
from core.datasets.catalog import DatasetChoice, list_datasets
from core.datasets.folders import Sample, load_dataset
from core.datasets.shapes import BASE_CLASSES, write_imagefolder
from core.io.assets import SAMPLES_DIR, sample_images

MAX_IMAGES = 2000  # larger datasets are thinned evenly to this many images
SAMPLES_LABEL = "sample photos (assets/samples)"


@dataclass(frozen=True)
class ImageSet:
    """Image files to run a model over, with the folder their names are relative to."""

    label: str
    root: Path
    samples: tuple[Sample, ...]
    found: int  # images in the dataset before thinning to MAX_IMAGES

    def digest(self) -> str:
        """A hash of the files (names, sizes and modification times): a new file means a new pass."""
        digest = hashlib.blake2b(digest_size=12)
        for sample in self.samples:
            stat = sample.path.stat()
            digest.update(f"{sample.path}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def classroom_shapes() -> Path:
    """The classroom model's own six classes (seed 1, not its training images), written on first use."""
    root = get_settings().home / "generated" / "shapes-classroom"
    if not root.is_dir():
        try:
            write_imagefolder(root, BASE_CLASSES, per_class_train=30, per_class_val=10, seed=1)
        except (ValueError, OSError):  # another session wrote it at the same moment
            if not root.is_dir():
                raise
    return root


def image_sources() -> list[DatasetChoice]:
    """The choices: sample photos, the classroom shapes, then the transfer page's datasets."""
    label = f"classroom shapes: {', '.join(BASE_CLASSES)} (what Tiny VGG learned)"
    return [DatasetChoice(SAMPLES_LABEL, SAMPLES_DIR), DatasetChoice(label, classroom_shapes()), *list_datasets()]


def load_image_set(choice: DatasetChoice) -> ImageSet:
    """Every image of ``choice`` (train and val), thinned evenly to :data:`MAX_IMAGES`.

    Raises:
        DatasetError: the folder is not a usable dataset (see :func:`core.datasets.folders.load_dataset`).
    """
    if choice.path == SAMPLES_DIR:
        samples = [Sample(path, 0) for path in sample_images().values()]
    else:
        dataset = load_dataset(choice.path)
        samples = sorted(dataset.train + dataset.val, key=lambda s: str(s.path))
    found = len(samples)
    if found > MAX_IMAGES:
        samples = [samples[i * found // MAX_IMAGES] for i in range(MAX_IMAGES)]
    return ImageSet(choice.label, choice.path, tuple(samples), found)
