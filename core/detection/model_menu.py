"""Which detection models the YOLO page offers and which file or folder each choice loads.

Registered names first (found in the weights folder, or missing with the reason), then other
model files and exported folders found in the weights folder, then an upload of a ``.pt`` file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.detection.yolo_files import YOLO_WEIGHTS, find_model, local_models, model_names
from core.errors import WeightsUnavailable

UPLOAD = "upload"


@dataclass(frozen=True)
class ModelOption:
    """One entry of the model picker."""

    key: str  # what the picker stores: a registered name, a file name in the weights folder, or UPLOAD
    label: str
    path: Path | None  # what to load; None for an upload or a missing model
    missing: WeightsUnavailable | None = None  # why a registered model is not here (and how to get it)


@dataclass(frozen=True)
class ModelMenu:
    options: tuple[ModelOption, ...]
    default: str  # the first registered model that is here, else the first file, else the first name

    @property
    def keys(self) -> list[str]:
        return [o.key for o in self.options]

    def option(self, key: str) -> ModelOption:
        """The entry stored as ``key``; an unknown key (a stale link) is an error that lists the known ones."""
        for option in self.options:
            if option.key == key:
                return option
        raise ValueError(f"Unknown detection model {key!r}; choose one of: {', '.join(self.keys)}.")


def model_menu(folder: Path | None = None) -> ModelMenu:
    """The picker's entries: registered names (ready or missing), other files in the weights folder, an upload."""
    options, ready = [], []
    for name in model_names():
        try:
            path = find_model(name)
        except WeightsUnavailable as exc:  # explained when picked
            options.append(ModelOption(name, f"{name} · not on this machine", None, exc))
            continue
        ready.append(path)
        options.append(ModelOption(name, f"{name} · {path.name}", path))
    files = [m for m in local_models(folder) if m.path not in ready]
    options += [ModelOption(m.path.name, f"{m.label} · weights folder", m.path) for m in files]
    options.append(ModelOption(UPLOAD, "Upload a .pt file", None))
    here = [o.key for o in options if o.path is not None]
    return ModelMenu(tuple(options), here[0] if here else next(iter(YOLO_WEIGHTS)))
