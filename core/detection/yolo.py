"""Ultralytics YOLO detectors: offline set-up, models by name or file, a bounded cache, batched inference.

Ultralytics is imported on first use, after :func:`ultralytics_module` has switched off what it
would otherwise do on its own: package installs (``YOLO_AUTOINSTALL``), online checks, update
checks and telemetry (``YOLO_OFFLINE``, ``sync=False``), writing its settings outside the app's
folders (``YOLO_CONFIG_DIR`` inside ``CONVLENS_HOME``) and its process-wide patch of
``PIL.Image.open``. Weights are downloaded only when asked for, with :func:`download_model`.

A name (``yolov8n``) resolves in the weights folder (``CONVLENS_WEIGHTS_DIR``, the offline kit)
to ``<name>.pt``, then to an exported ``<name>_openvino_model`` or ``<name>_int8_openvino_model``
folder, then to ``<name>.onnx``. The model runs once per image at a low confidence and a
permissive NMS; the page filters that cached output (:func:`core.detection.boxes.filter_detections`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
from PIL import Image

from core.config import limits
from core.config.device import default_device, synchronize
from core.config.settings import get_settings
from core.datasets.shape_scenes import DET_BASE_CLASSES
from core.detection import quiet
from core.detection.boxes import Detections, make_detections
from core.detection.classroom import DETECTOR_DIR, OPENVINO_PATH
from core.errors import WeightsError, WeightsUnavailable
from core.io.assets import ASSETS_DIR
from core.util.cache import ModelCache

_RELEASE = "https://github.com/ultralytics/assets/releases/download/v8.4.0"  # as ultralytics 8.4 downloads
YOLO_WEIGHTS: dict[str, str] = {name: f"{_RELEASE}/{name}.pt" for name in ("yolov8n", "yolov8s", "yolo11n", "yolo11s")}
SAMPLE_NAMES = ("bus.jpg", "zidane.jpg")  # shipped inside the ultralytics package, read from there
LABELS_DIR = ASSETS_DIR / "labels"  # hand-made ground truth for the samples
SHIPPED_MODELS: dict[str, Path] = {"convlens-shapes": OPENVINO_PATH}  # trained by ConvLens, in assets/
SHIPPED_SAMPLES_DIR = DETECTOR_DIR / "samples"  # generated scenes with their exact labels

RAW_CONF = 0.01  # the model runs once at this confidence; the page's slider filters above it
RAW_IOU = 0.9  # permissive NMS at run time; the page's NMS slider goes up to this
MAX_DET = 300
IMGSZ = 640
BATCH = 8  # images per forward pass
_FORMATS = {".pt": "PyTorch", ".onnx": "ONNX", "_openvino_model": "OpenVINO"}
_PT_REFUSED = (
    "Uploaded .pt files are refused on this server: an Ultralytics .pt file is a Python pickle, and loading "
    "one runs any code hidden in it. Put the model in the weights folder `{folder}` instead, or ask the "
    "server's operator to set CONVLENS_ALLOW_PT_UPLOADS=1 if every user of this server is trusted."
)


@functools.cache
def ultralytics_module() -> ModuleType:
    """Import Ultralytics with installs, online checks and telemetry off; its settings go to CONVLENS_HOME."""
    home = get_settings().home
    os.environ["YOLO_OFFLINE"] = "1"  # no online check, hence no update check, telemetry or error reports
    os.environ["YOLO_AUTOINSTALL"] = "false"  # never pip install a missing package at run time
    os.environ["YOLO_CONFIG_DIR"] = str(home)  # its settings.json: HOME/Ultralytics/settings.json
    os.environ.setdefault("YOLO_VERBOSE", "false")
    quiet.safe_ultralytics_loading()  # a .pt that would run code is refused, not run
    quiet.silence_openvino()  # OpenVINO's import-time telemetry: opted out, kept inside HOME
    quiet.silence_onnxruntime()
    import ultralytics
    from ultralytics.utils import SETTINGS, patches

    if SETTINGS.get("sync"):
        SETTINGS.update(sync=False)
    # Ultralytics replaces PIL.Image.open process-wide with a version that, on a file Pillow cannot read, tries
    # to install pi-heif and then fails with ModuleNotFoundError. Put Pillow's own back: core.io.images relies on
    # its errors, and ConvLens hands Ultralytics decoded images only.
    Image.open = patches._image_open
    return ultralytics


def model_format(path: Path) -> str | None:
    """``PyTorch``, ``ONNX`` or ``OpenVINO`` for an existing model file or exported folder, else None."""
    for ending, name in _FORMATS.items():
        if path.name.endswith(ending):
            return name if (path.is_dir() if ending == "_openvino_model" else path.is_file()) else None
    return None


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


@dataclass(frozen=True, eq=False)
class YoloModel:
    """A loaded, warmed-up detector. ``model`` is shared and stateful: call it only under ``lock``."""

    label: str
    path: Path
    format: str
    names: dict[int, str] = field(repr=False)
    device: torch.device
    half: bool
    cache_key: str  # changes when the file or the device does
    model: Any = field(repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    imgsz: int = IMGSZ  # the size it was trained at (its checkpoint or export says), else 640

    def predict(self, images: Sequence[Image.Image]) -> list:
        """Ultralytics results for ``images`` (one forward pass), at the permissive raw thresholds."""
        with self.lock:
            return self.model.predict(
                list(images),
                conf=RAW_CONF,
                iou=RAW_IOU,
                max_det=MAX_DET,
                imgsz=self.imgsz,
                device=str(self.device),
                quantize=16 if self.half else None,  # fp16 (Ultralytics 8.4 replaced `half` with this)
                verbose=False,
            )


MODELS: ModelCache[YoloModel] = ModelCache(limits.MODEL_CACHE_ENTRIES)


def _build(path: Path, label: str, device: torch.device, cache_key: str) -> YoloModel:
    fmt = model_format(path)
    if fmt is None:
        raise WeightsError(f"{path.name} is not a YOLO model: use a .pt or .onnx file or an *_openvino_model folder.")
    yolo_class: Callable[..., Any] = ultralytics_module().YOLO
    try:
        model = yolo_class(str(path)) if fmt == "PyTorch" else yolo_class(str(path), task="detect")
        names = dict(model.names)  # an exported model is opened here
    except ModuleNotFoundError as exc:
        raise WeightsError(
            f"{path.name} is an {fmt} model, which needs the Python package '{exc.name}'; it is not installed "
            "on this server. Use the model's .pt or OpenVINO export instead."
        ) from None
    except Exception as exc:  # Ultralytics and the runtimes raise many kinds for a file that is not a model
        cause = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
        raise WeightsError(
            f"Cannot load {path.name} as an Ultralytics YOLO {fmt} model: it is damaged, incomplete or not a "
            f"YOLO model ({cause}). Use a .pt saved by Ultralytics or a folder made with `yolo export`."
        ) from None
    if model.task != "detect":
        raise WeightsError(f"{path.name} is a '{model.task}' model; this page needs a detection ('detect') model.")
    device = device if fmt == "PyTorch" else torch.device("cpu")  # exported runtimes pick their own CPU path
    half = device.type == "cuda" and fmt == "PyTorch"  # fp16 on a GPU; exported models keep their own precision
    yolo = YoloModel(label, path, fmt, names, device, half, cache_key, model, imgsz=_trained_size(model, path))
    try:
        yolo.predict([Image.new("RGB", (yolo.imgsz, yolo.imgsz), (114, 114, 114))])  # warm-up: builds the predictor
    except Exception as exc:
        raise WeightsError(f"{path.name} loaded but cannot run ({type(exc).__name__}: {exc}).") from None
    return yolo


def _trained_size(model: Any, path: Path) -> int:
    """The image size in the checkpoint's training arguments or the export's metadata.yaml, else :data:`IMGSZ`."""
    size = (getattr(model, "ckpt", None) or {}).get("train_args", {}).get("imgsz")
    if size is None and (path / "metadata.yaml").is_file():
        import yaml

        size = (yaml.safe_load((path / "metadata.yaml").read_text()) or {}).get("imgsz")
    size = size[0] if isinstance(size, list | tuple) and size else size
    return int(size) if isinstance(size, int) and 32 <= size <= IMGSZ else IMGSZ


def load_model(path: Path, *, label: str | None = None, device: torch.device | None = None) -> YoloModel:
    """A warmed-up detector from a model file or exported folder, from the bounded cache when possible.

    Raises:
        WeightsUnavailable: ``path`` does not exist.
        WeightsError: not a YOLO detection model, or one that cannot run here.
    """
    path = Path(path).resolve()
    if not path.exists():
        raise WeightsUnavailable(f"{path} does not exist.")
    device = device or default_device()
    key = (str(path), path.stat().st_mtime_ns, str(device))
    return MODELS.get(key, lambda: _build(path, label or path.name, device, "|".join(map(str, key))))


def pt_upload_refusal() -> str | None:
    """Why uploaded ``.pt`` files are refused on this server, or None when the operator allows them."""
    settings = get_settings()
    return None if settings.allow_pt_uploads else _PT_REFUSED.format(folder=settings.weights_dir)


def load_uploaded_pt(data: bytes, filename: str) -> YoloModel:
    """Load an uploaded Ultralytics ``.pt``, only if the operator allows it (it is a pickle: it can run code).

    Raises:
        WeightsError: uploads of .pt files are not allowed here, or the file is not a YOLO model.
    """
    refusal = pt_upload_refusal()
    if refusal is not None:
        raise WeightsError(refusal)
    settings = get_settings()
    limits.UPLOAD_MB.check(len(data) / 2**20, name=filename)
    target = settings.model_uploads_dir / f"{hashlib.sha256(data).hexdigest()[:16]}.pt"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(target)
    return load_model(target, label=filename)


@dataclass(frozen=True, eq=False)
class DetectionBatch:
    """The raw detections of one model on several images (low confidence, permissive NMS)."""

    model: str
    names: dict[int, str]
    detections: tuple[Detections, ...]
    sizes: tuple[tuple[int, int], ...]  # (width, height) per image
    seconds: float  # wall-clock time of the model on the whole batch
    device: str


def detect(model: YoloModel, images: Sequence[Image.Image]) -> DetectionBatch:
    """Run ``model`` on ``images`` in batches of :data:`BATCH` and keep every box above :data:`RAW_CONF`."""
    limits.DETECTION_IMAGES.check(len(images))
    found: list[Detections] = []
    seconds = 0.0
    for start in range(0, len(images), BATCH):
        chunk = images[start : start + BATCH]
        synchronize(model.device)
        began = time.perf_counter()
        results = model.predict(chunk)
        synchronize(model.device)
        seconds += time.perf_counter() - began
        for result in results:
            boxes = result.boxes
            found.append(
                make_detections(
                    boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int64)
                )
            )
    sizes = tuple(image.size for image in images)
    return DetectionBatch(model.label, model.names, tuple(found), sizes, seconds, str(model.device))


def _for_shapes(names: Mapping[int, str] | None) -> bool:
    """True for the classroom detector's classes: its samples and labels replace the COCO ones."""
    return names is not None and tuple(names.values()) == DET_BASE_CLASSES


def sample_images(names: Mapping[int, str] | None = None) -> dict[str, Path]:
    """Sample images for a model with class ``names``: generated scenes for the classroom detector, else
    ``bus.jpg`` and ``zidane.jpg`` from the installed ultralytics package (without importing it)."""
    if _for_shapes(names):
        return {p.name: p for p in sorted(SHIPPED_SAMPLES_DIR.glob("*.png"))}
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or spec.origin is None:
        return {}
    folder = Path(spec.origin).parent / "assets"
    return {name: folder / name for name in SAMPLE_NAMES if (folder / name).is_file()}


def shipped_labels(names: Mapping[int, str] | None = None) -> dict[str, str]:
    """The shipped YOLO label files of :func:`sample_images` for ``names``, as text by image stem."""
    folder = SHIPPED_SAMPLES_DIR if _for_shapes(names) else LABELS_DIR
    return {p.stem: p.read_text() for p in sorted(folder.glob("*.txt"))}


def model_names() -> list[str]:
    """The models offered by name: COCO models (:data:`YOLO_WEIGHTS`), then the shipped ones that are present."""
    return [*YOLO_WEIGHTS, *(name for name, path in SHIPPED_MODELS.items() if model_format(path))]
