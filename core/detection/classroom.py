"""The classroom detector: a YOLOv8n that ConvLens trains on its own generated shapes and ships.

``scripts/train_classroom_detector.py`` trains it; ``assets/detector/`` holds the weights
(``.pt``, which the lab trains from, and an fp16 OpenVINO export of the same network, which
the YOLO page loads: it is not a pickle) and ``metadata.json``
(seed, classes, training time, val mAP50 / mAP50-95). It needs no download, so the YOLO page
and the detection lab work on a fresh, offline machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.io.assets import ASSETS_DIR

KEY = "convlens-shapes-yolov8n"
DETECTOR_DIR = ASSETS_DIR / "detector"
WEIGHTS_PATH = DETECTOR_DIR / "shapes_yolov8n.pt"
OPENVINO_PATH = DETECTOR_DIR / "shapes_yolov8n_openvino_model"  # what the YOLO page loads: no pickle
METADATA_PATH = DETECTOR_DIR / "metadata.json"


def available() -> bool:
    """True when the shipped weights are present."""
    return WEIGHTS_PATH.is_file()


def weights_path() -> Path:
    """The shipped ``.pt`` (a file of this repository, not an upload: safe to unpickle)."""
    return WEIGHTS_PATH


def metadata() -> dict:
    """The shipped metadata (empty when the detector has not been trained yet)."""
    return json.loads(METADATA_PATH.read_text()) if METADATA_PATH.is_file() else {}
