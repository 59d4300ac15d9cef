"""The datasets the transfer page offers: the data folder's, the uploaded ones, and the generated shapes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config.settings import get_settings
from core.datasets.folders import subfolders
from core.datasets.shapes import TRANSFER_CLASSES, write_imagefolder


@dataclass(frozen=True)
class DatasetChoice:
    """A dataset the page can offer: from the configured data folder or uploaded."""

    label: str
    path: Path


def generated_dataset() -> Path:
    """Shapes the classroom model never saw (``TRANSFER_CLASSES``), written on first use.

    Transfer from Tiny VGG's six shapes to these new classes is the classroom's offline demo
    of frozen backbone against fine-tuning. Deterministic (seed 0), so every machine has the same.
    """
    root = get_settings().home / "generated" / "shapes-new-classes"
    if not root.is_dir():
        try:
            write_imagefolder(root, TRANSFER_CLASSES, seed=0)
        except (ValueError, OSError):  # another session wrote it at the same moment
            if not root.is_dir():
                raise
    return root


def list_datasets() -> list[DatasetChoice]:
    """Folders in the configured data folder (``CONVLENS_DATA_DIR``), uploaded ones, then the generated one."""
    settings = get_settings()
    found = []
    for folder, suffix in ((settings.data_dir, ""), (settings.uploads_dir, " (uploaded)")):
        if folder.is_dir():
            found += [DatasetChoice(p.name + suffix, p) for p in subfolders(folder)]
    label = f"generated shapes: {', '.join(TRANSFER_CLASSES)} (new classes for Tiny VGG)"
    return [*found, DatasetChoice(label, generated_dataset())]
