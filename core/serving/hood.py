"""Inside a YOLO detector for a lecture hall: the keep-all pass, NMS runs, box CAMs and their pictures, shared.

Thirty students opening "Under the hood" on bus.jpg and stepping through NMS ask for the same
things: one pass that keeps every candidate, the same NMS run per pair of thresholds, the same
picture per step. The pass and the CAMs are keyed by (model file and device, input size, image
digest, settings) in :data:`HOOD`; what is derived from a pass (NMS runs, CSV, pictures) is keyed
by the shared pass object and the settings (:func:`core.serving.pictures.value` / ``encoded``),
so each is computed and encoded once for every session.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PIL import Image

from core import detection
from core.config import limits
from core.serving.pictures import digest, encoded, value
from core.util.shared_cache import SharedCache

HOOD = SharedCache("YOLO inside (passes and CAMs)", 256, limits.SHARED_RESULT_BYTES // 4)


def _model_key(model: detection.YoloModel) -> tuple:
    """What identifies a detector's answers: its file and device (``cache_key``) and its input size."""
    return (model.cache_key, model.imgsz)


def raw_output(model: detection.YoloModel, image: Image.Image) -> detection.RawOutput:
    """:func:`core.detection.raw_output` (every candidate, before any threshold), once per model and image."""
    return HOOD.get(("raw", _model_key(model), digest(image)), lambda: detection.raw_output(model, image))


def nms(raw: detection.RawOutput, conf: float, iou: float) -> detection.NmsRun:
    """:func:`core.detection.run_nms` on a shared pass, once per thresholds (shared: never modify it)."""
    return value(raw, ("nms", float(conf), float(iou)), lambda: detection.run_nms(raw, conf, iou))


def box_cam(
    model: detection.YoloModel, image: Image.Image, candidate: int, class_id: int, method: str
) -> detection.BoxCam:
    """:func:`core.detection.box_cam` of one candidate on the shared pass, once per model, image and settings."""
    key = ("box cam", _model_key(model), digest(image), int(candidate), int(class_id), method)
    return HOOD.get(key, lambda: detection.box_cam(model, raw_output(model, image), candidate, class_id, method))


def grid_png(raw: detection.RawOutput, run: detection.NmsRun, level: int) -> bytes:
    """Grid ``level`` tinted by its cells' best scores with the final boxes of ``run`` it predicted, encoded once."""

    def draw() -> Image.Image:
        base = value(raw, ("grid base", level), lambda: detection.grid_base(raw, level, _heat(raw)[level]))
        return detection.grid_picture(raw, level, base, run.kept)

    return encoded(raw, ("grid", level, run.conf, run.iou), draw)


def candidates_png(raw: detection.RawOutput, run: detection.NmsRun | None = None) -> bytes:
    """Every candidate's outline (``run`` None), or those above ``run``'s confidence (bolder), encoded once."""
    if run is None:
        return encoded(raw, ("candidates",), lambda: detection.candidates_picture(raw, range(len(raw.boxes))))
    above = lambda: detection.candidates_picture(raw, run.above, opacity=0.8)  # noqa: E731
    return encoded(raw, ("candidates", run.conf), above)  # which are above does not depend on the NMS IoU


def nms_png(raw: detection.RawOutput, run: detection.NmsRun, step: int, names: Mapping[int, str]) -> bytes:
    """The picture of ``run`` after ``step`` steps, encoded once for every session on this step.

    ``names`` are the model's class names; the pass belongs to one model, so they are not in the key.
    """
    draw = lambda: detection.nms_picture(raw, run, step, names)  # noqa: E731
    return encoded(raw, ("nms step", run.conf, run.iou, int(step)), draw)


def steps_table(raw: detection.RawOutput, run: detection.NmsRun, names: Mapping[int, str]) -> tuple[list[dict], str]:
    """``run``'s steps as table rows and as CSV text, made once per thresholds (shared: never modify them)."""
    make = lambda: (detection.step_rows(raw, run, names), detection.steps_csv(raw, run, names))  # noqa: E731
    return value(raw, ("nms steps table", run.conf, run.iou), make)


def cam_png(image: Image.Image, raw: detection.RawOutput, cam: detection.BoxCam, candidate: int) -> bytes:
    """The shared CAM over ``image`` with candidate ``candidate``'s box and the peak, encoded once."""
    box = raw.to_image(raw.boxes[[candidate]])[0]
    return encoded(cam, ("cam picture", int(candidate)), lambda: detection.cam_picture(image, cam, box))


def _heat(raw: detection.RawOutput) -> list[np.ndarray]:
    return value(raw, ("level heatmaps",), lambda: detection.level_heatmaps(raw))
