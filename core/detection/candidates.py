"""Inside a YOLO detector: its grids, its raw candidates and non-maximum suppression step by step.

A YOLOv8/v9/11-style head predicts one box and one score per class for every cell of three grids
(strides 8, 16 and 32: 80x80 + 40x40 + 20x20 = 8,400 cells at 640 px). :func:`raw_output` runs the
model's backend once on the letterboxed image and keeps all of them, before any threshold;
everything else here filters that cached output, so moving a slider never runs the model.
The grids are derived from the output's candidate count and the model's largest stride, not typed in.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.ops import box_iou

from core.config.device import synchronize
from core.detection import yolo
from core.detection.boxes import cxcywh_to_xyxy

ANCHOR_FREE_NOTE = (
    "Anchor-based YOLOs (v3, v4, v5, v7) predict several boxes per cell, one per anchor shape (3 per cell: "
    "25,200 candidates at 640 px) and an extra objectness score; anchor-free heads (YOLOv5u, v8, v9, 11) "
    "predict one box per cell, as its distances to the cell's centre."
)


@dataclass(frozen=True)
class GridLevel:
    """One grid of the head: its stride in pixels, its size in cells and where its candidates start."""

    stride: int
    rows: int
    cols: int
    start: int  # index of its first candidate in the model's output
    anchors: int = 1  # boxes predicted per cell

    @property
    def count(self) -> int:
        return self.rows * self.cols * self.anchors


def derive_grid(candidates: int, height: int, width: int, max_stride: int) -> tuple[GridLevel, ...]:
    """The grids that give ``candidates`` outputs for a ``height`` x ``width`` input, finest first.

    Tries strides ``max_stride``, ``max_stride / 2``, ... (one to five grids) with one, then three,
    boxes per cell, and returns the first combination whose cells add up to ``candidates``.

    Raises:
        ValueError: no such combination (not a grid-based YOLO head).
    """
    for anchors in (1, 3):
        for levels in range(1, 6):
            strides = [max_stride >> k for k in reversed(range(levels))]
            if strides[0] < 1 or any(height % s or width % s for s in strides):
                break
            if anchors * sum((height // s) * (width // s) for s in strides) == candidates:
                found, start = [], 0
                for s in strides:
                    found.append(GridLevel(s, height // s, width // s, start, anchors))
                    start += found[-1].count
                return tuple(found)
    raise ValueError(
        f"{candidates} candidates do not fit grids of stride {max_stride}, {max_stride // 2}, ... on a "
        f"{width}x{height} input: this model's head is not a grid-based YOLO head."
    )


@dataclass(frozen=True, eq=False)
class RawOutput:
    """Every candidate of one image before any threshold, in the letterboxed input's pixels."""

    letterboxed: Image.Image  # the square input the model saw
    boxes: np.ndarray  # (N, 4) float32 corners
    scores: np.ndarray  # (N, C) float32 class scores in [0, 1]
    levels: tuple[GridLevel, ...]
    gain: float  # original pixels * gain + pad = input pixels
    pad: tuple[float, float]  # (left, top)
    size: tuple[int, int]  # (width, height) of the original image
    seconds: float

    @property
    def best(self) -> np.ndarray:
        """Each candidate's best class score."""
        return self.scores.max(axis=1)

    @property
    def best_class(self) -> np.ndarray:
        return self.scores.argmax(axis=1)

    def level_of(self, index: np.ndarray) -> np.ndarray:
        """The position in :attr:`levels` of each candidate index."""
        starts = np.array([level.start for level in self.levels])
        return np.searchsorted(starts, np.asarray(index), side="right") - 1

    def to_image(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes in input pixels to the original image's pixels."""
        left, top = self.pad
        return (np.asarray(boxes, dtype=np.float64) - [left, top, left, top]) / self.gain


def letterbox(image: Image.Image, size: int = yolo.IMGSZ) -> tuple[Image.Image, float, tuple[float, float]]:
    """``image`` scaled to fit ``size`` x ``size`` and padded with grey, as Ultralytics does, with gain and pad."""
    yolo.ultralytics_module()
    from ultralytics.data.augment import LetterBox

    width, height = image.size
    gain = min(size / height, size / width)
    left = round((size - round(width * gain)) / 2 - 0.1)
    top = round((size - round(height * gain)) / 2 - 0.1)
    boxed = LetterBox((size, size), auto=False)(image=np.ascontiguousarray(np.asarray(image.convert("RGB"))))
    return Image.fromarray(boxed), gain, (float(left), float(top))


def _prediction(output: object) -> torch.Tensor:
    """The (B, 4 + C, N) prediction tensor of a backend's output."""
    tensor = output[0] if isinstance(output, list | tuple) else output
    if not isinstance(tensor, torch.Tensor) or tensor.ndim != 3:
        raise ValueError("This model's output is not a YOLO prediction tensor (batch, 4 + classes, candidates).")
    if tensor.shape[-1] == 6 and tensor.shape[1] < tensor.shape[2] * 100:
        raise ValueError(
            "This is an NMS-free (end-to-end) model: its head already returns its final boxes "
            f"({tensor.shape[1]} at most), so there are no raw candidates and no NMS to show."
        )
    return tensor


def raw_output(model: yolo.YoloModel, image: Image.Image) -> RawOutput:
    """Run ``model``'s backend once on the letterboxed ``image`` and keep every candidate.

    Works for every format Ultralytics loads (PyTorch, ONNX, OpenVINO): it calls the predictor's
    backend, the same one :meth:`core.detection.yolo.YoloModel.predict` uses, under the model's lock.

    Raises:
        ValueError: the model is NMS-free or its output is not a grid of candidates.
    """
    boxed, gain, pad = letterbox(image, model.imgsz)  # the size the model was trained at, as predict uses
    backend = model.model.predictor.model
    pixels = torch.from_numpy(np.asarray(boxed).copy()).permute(2, 0, 1)[None].to(backend.device)
    pixels = (pixels.half() if backend.fp16 else pixels.float()) / 255
    with model.lock, torch.inference_mode():
        synchronize(model.device)
        began = time.perf_counter()
        prediction = _prediction(backend(pixels))[0].float().cpu().numpy()
        synchronize(model.device)
        seconds = time.perf_counter() - began
    classes = len(model.names)
    if prediction.shape[0] != 4 + classes:
        raise ValueError(f"Expected 4 box values and {classes} class scores per candidate, got {prediction.shape[0]}.")
    levels = derive_grid(prediction.shape[1], model.imgsz, model.imgsz, int(max(backend.stride, 8)))
    boxes = cxcywh_to_xyxy(prediction[:4].T).astype(np.float32)
    scores = np.ascontiguousarray(prediction[4:].T)
    return RawOutput(boxed, boxes, scores, levels, gain, pad, image.size, seconds)


def level_heatmaps(raw: RawOutput) -> list[np.ndarray]:
    """Per grid, each cell's best class score as a (rows, cols) array (the best anchor's, if several)."""
    best = raw.best
    return [
        best[level.start : level.start + level.count].reshape(level.anchors, level.rows, level.cols).max(axis=0)
        for level in raw.levels
    ]


@dataclass(frozen=True)
class NmsStep:
    """One step of NMS: the box kept, the boxes of its class it removed and their IoU with it."""

    kept: int  # candidate index
    removed: np.ndarray  # candidate indices, int64
    ious: np.ndarray  # IoU of each removed box with the kept one
    survivors: int  # boxes kept so far plus boxes still waiting, after this step


@dataclass(frozen=True, eq=False)
class NmsRun:
    """NMS on the candidates above a confidence, one step per kept box."""

    candidates: int  # all of the model's candidates
    above: np.ndarray  # candidate indices at or above the confidence, best first
    steps: tuple[NmsStep, ...]
    conf: float
    iou: float

    @property
    def kept(self) -> np.ndarray:
        """The final boxes' candidate indices, best first."""
        return np.array([s.kept for s in self.steps], dtype=np.int64)

    def remaining(self, step: int) -> np.ndarray:
        """Candidates still waiting after ``step`` steps (0: all above the confidence)."""
        gone = {s.kept for s in self.steps[:step]}
        for s in self.steps[:step]:
            gone.update(s.removed.tolist())
        return np.array([i for i in self.above if i not in gone], dtype=np.int64)


def nms_steps(boxes: object, scores: object, classes: object, iou: float) -> list[NmsStep]:
    """Greedy class-wise NMS, one step per kept box, exactly as ``torchvision.ops.batched_nms``.

    At each step the most confident box still waiting is kept, and every waiting box of its class
    whose IoU with it is above ``iou`` is removed. IoU is computed by torchvision in float32.
    """
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be above 0 and at most 1, got {iou}.")
    box_t = torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4)
    score_t = torch.as_tensor(np.asarray(scores, dtype=np.float32)).reshape(-1)
    class_np = np.asarray(classes, dtype=np.int64).reshape(-1)
    order = torch.argsort(score_t, descending=True, stable=True).numpy()
    waiting = np.ones(len(order), dtype=bool)
    steps: list[NmsStep] = []
    removed_total = 0
    for position, index in enumerate(order):
        if not waiting[position]:
            continue
        waiting[position] = False
        later = np.flatnonzero(waiting & (class_np[order] == class_np[index]))
        ious = box_iou(box_t[index : index + 1], box_t[order[later]])[0].numpy() if len(later) else np.zeros(0)
        gone = ious > iou
        waiting[later[gone]] = False
        removed_total += int(gone.sum())
        steps.append(NmsStep(int(index), order[later[gone]].astype(np.int64), ious[gone], len(order) - removed_total))
    return steps


def run_nms(raw: RawOutput, conf: float, iou: float) -> NmsRun:
    """NMS step by step on the candidates whose best class score is at least ``conf``."""
    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"conf must be between 0 and 1, got {conf}.")
    best = raw.best
    above = np.flatnonzero(best >= conf)
    above = above[np.argsort(-best[above], kind="stable")]
    local = nms_steps(raw.boxes[above], best[above], raw.best_class[above], iou)
    steps = tuple(NmsStep(int(above[s.kept]), above[s.removed], s.ious, s.survivors) for s in local)
    return NmsRun(len(best), above, steps, conf, iou)


STEP_COLUMNS = (
    "step", "class", "confidence", "grid", "x1", "y1", "x2", "y2",
    "removed", "max IoU removed", "waiting after", "candidates", "above confidence",
)  # fmt: skip


def step_rows(raw: RawOutput, run: NmsRun, names: Mapping[int, str]) -> list[dict[str, object]]:
    """One row per final box (one NMS step): where it came from and what it removed, in image pixels."""
    rows = []
    kept = run.kept
    corners = raw.to_image(raw.boxes[kept]).round(1) if len(kept) else np.zeros((0, 4))
    levels = raw.level_of(kept)
    for number, (step, box, level) in enumerate(zip(run.steps, corners, levels, strict=True), start=1):
        class_id = int(raw.best_class[step.kept])
        grid = raw.levels[int(level)]
        values = (
            number, names.get(class_id, str(class_id)), round(float(raw.best[step.kept]), 4),
            f"stride {grid.stride} ({grid.rows}x{grid.cols})", *box.tolist(), len(step.removed),
            round(float(step.ious.max()), 4) if len(step.ious) else None,
            step.survivors - number, run.candidates, len(run.above),
        )  # fmt: skip
        rows.append(dict(zip(STEP_COLUMNS, values, strict=True)))
    return rows


def steps_csv(raw: RawOutput, run: NmsRun, names: Mapping[int, str]) -> str:
    """:func:`step_rows` as CSV text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=STEP_COLUMNS)
    writer.writeheader()
    writer.writerows(step_rows(raw, run, names))
    return buffer.getvalue()
