"""YOLO model files on this machine: registered names, formats, finding by name, downloading.

A name (``yolov8n``) resolves in the weights folder (``CONVLENS_WEIGHTS_DIR``, the offline kit)
to ``<name>.pt``, then to an exported ``<name>_openvino_model`` or ``<name>_int8_openvino_model``
folder, then to ``<name>.onnx``. Weights are downloaded only when asked for, with :func:`download_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.config.settings import get_settings
from core.detection.classroom import OPENVINO_PATH
from core.detection.yolo import model_format, ultralytics_module
from core.errors import WeightsUnavailable

_RELEASE = "https://github.com/ultralytics/assets/releases/download/v8.4.0"  # as ultralytics 8.4 downloads
YOLO_WEIGHTS: dict[str, str] = {name: f"{_RELEASE}/{name}.pt" for name in ("yolov8n", "yolov8s", "yolo11n", "yolo11s")}
SHIPPED_MODELS: dict[str, Path] = {"convlens-shapes": OPENVINO_PATH}  # trained by ConvLens, in assets/


@dataclass(frozen=True)
class ModelFile:
    """A detection model on this machine."""

    path: Path
    format: str

    @property
    def label(self) -> str:
        return f"{self.path.name} ({self.format})"


def local_models(folder: Path | None = None) -> list[ModelFile]:
    """The model files and exported folders in the weights folder, sorted by name."""
    folder = folder or get_settings().weights_dir
    if not folder.is_dir():
        return []
    found = ((p, model_format(p)) for p in sorted(folder.iterdir()))
    return [ModelFile(p, fmt) for p, fmt in found if fmt is not None]


def _candidates(name: str, folder: Path) -> list[Path]:
    stems = (f"{name}.pt", f"{name}_openvino_model", f"{name}_int8_openvino_model", f"{name}.onnx")
    return [folder / stem for stem in stems]


def find_model(name: str) -> Path:
    """The file or folder of a registered model name (:data:`YOLO_WEIGHTS`) in the weights folder.

    Raises:
        ValueError: the name is not registered.
        WeightsUnavailable: none of its files is there; the message names the file and the folder.
    """
    if name in SHIPPED_MODELS and model_format(SHIPPED_MODELS[name]):
        return SHIPPED_MODELS[name]
    if name not in YOLO_WEIGHTS:
        raise ValueError(f"Unknown YOLO model {name!r}; choose one of {', '.join(YOLO_WEIGHTS)}.")
    settings = get_settings()
    for path in _candidates(name, settings.weights_dir):
        if model_format(path):
            return path
    how = " (this server is offline: CONVLENS_OFFLINE is set)" if settings.offline else ", or download it below"
    raise WeightsUnavailable(
        f"{name} is not on this machine: `{name}.pt` (from {YOLO_WEIGHTS[name]}) or an exported "
        f"`{name}_openvino_model` folder is needed in the weights folder `{settings.weights_dir}` "
        f"(CONVLENS_WEIGHTS_DIR). Copy it there{how}."
    )


def download_model(name: str) -> Path:
    """Download ``name``'s ``.pt`` with Ultralytics into the weights folder (kept for next time).

    Raises:
        WeightsUnavailable: offline, or the download failed.
    """
    if name not in YOLO_WEIGHTS:
        raise ValueError(f"Unknown YOLO model {name!r}; choose one of {', '.join(YOLO_WEIGHTS)}.")
    settings = get_settings()
    target = settings.weights_dir / f"{name}.pt"
    if settings.offline:
        raise WeightsUnavailable(f"Cannot download {target.name}: CONVLENS_OFFLINE is set on this server.")
    ultralytics_module()
    from ultralytics.utils.downloads import safe_download

    try:
        safe_download(YOLO_WEIGHTS[name], file=target, retry=1, min_bytes=1e5, progress=False)
    except (ConnectionError, OSError) as exc:
        raise WeightsUnavailable(f"Downloading {target.name} from {YOLO_WEIGHTS[name]} failed: {exc}") from None
    return target


def model_names() -> list[str]:
    """The models offered by name: COCO models (:data:`YOLO_WEIGHTS`), then the shipped ones that are present."""
    return [*YOLO_WEIGHTS, *(name for name, path in SHIPPED_MODELS.items() if model_format(path))]
