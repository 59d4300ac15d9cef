"""Boxes: formats, IoU, YOLO label files (with an issue per bad line) and NMS on cached detections.

Boxes are ``(N, 4)`` float arrays of corners ``x1, y1, x2, y2`` in pixels unless a name says
otherwise. IoU follows COCO: areas are ``width * height`` with no ``+1``, and a box of zero
area overlaps nothing.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import batched_nms

from core.config import limits
from core.errors import LabelError

MAX_CLASS_ID = 2**31  # class ids at or above this cannot be a real class (and overflow int64 arrays)


def as_boxes(boxes: object) -> np.ndarray:
    """``boxes`` as a float64 ``(N, 4)`` array (an empty input gives shape ``(0, 4)``)."""
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return np.zeros((0, 4))
    array = array.reshape(-1, 4) if array.ndim == 1 else array
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {np.shape(boxes)}.")
    return array


def xywh_to_xyxy(boxes: object) -> np.ndarray:
    """Corner-and-size boxes (COCO's ``x, y, w, h``) to corners."""
    b = as_boxes(boxes)
    return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)


def xyxy_to_xywh(boxes: object) -> np.ndarray:
    """Corners to COCO's ``x, y, w, h``."""
    b = as_boxes(boxes)
    return np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)


def cxcywh_to_xyxy(boxes: object) -> np.ndarray:
    """Centre-and-size boxes (YOLO's ``x_center, y_center, width, height``) to corners."""
    b = as_boxes(boxes)
    half = b[:, 2:] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def xyxy_to_cxcywh(boxes: object) -> np.ndarray:
    """Corners to YOLO's centre-and-size boxes."""
    b = as_boxes(boxes)
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)


def box_area(boxes: object) -> np.ndarray:
    """Areas of ``boxes`` (0 for boxes whose corners are swapped)."""
    b = as_boxes(boxes)
    return np.maximum(b[:, 2] - b[:, 0], 0) * np.maximum(b[:, 3] - b[:, 1], 0)


def iou_matrix(a: object, b: object) -> np.ndarray:
    """IoU of every box in ``a`` with every box in ``b``: an ``(N, M)`` array in [0, 1]."""
    a, b = as_boxes(a), as_boxes(b)
    width = np.maximum(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0)
    height = np.maximum(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0)
    inter = width * height
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=inter > 0)


@dataclass(frozen=True)
class IoUParts:
    """The arithmetic of one IoU, for the explainer: intersection over union."""

    area_a: float
    area_b: float
    intersection: tuple[float, float, float, float] | None  # corners, or None when the boxes do not overlap
    inter_area: float
    union: float

    @property
    def iou(self) -> float:
        return self.inter_area / self.union if self.inter_area > 0 else 0.0


def iou_parts(a: Iterable[float], b: Iterable[float]) -> IoUParts:
    """Areas, intersection and union of two corner boxes."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = a, b
    area_a, area_b = float(box_area([a])[0]), float(box_area([b])[0])
    x1, y1, x2, y2 = max(ax1, bx1), max(ay1, by1), min(ax2, bx2), min(ay2, by2)
    inter = (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
    inter_area = (x2 - x1) * (y2 - y1) if inter else 0.0
    return IoUParts(area_a, area_b, inter, float(inter_area), area_a + area_b - inter_area)


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes found in one image, best first: corners in pixels, confidences, class ids."""

    boxes: np.ndarray  # (N, 4) float32
    scores: np.ndarray  # (N,) float32
    classes: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.scores)

    def take(self, index: np.ndarray) -> Detections:
        """The detections picked by a boolean mask or an index array, in that order."""
        return Detections(self.boxes[index], self.scores[index], self.classes[index])


def make_detections(boxes: object, scores: object, classes: object) -> Detections:
    """Detections sorted by descending score (stable for ties)."""
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    order = np.argsort(-scores, kind="stable")
    return Detections(
        as_boxes(boxes).astype(np.float32)[order], scores[order], np.asarray(classes, dtype=np.int64).reshape(-1)[order]
    )


def filter_detections(
    detections: Detections, *, conf: float = 0.0, iou: float = 1.0, classes: Collection[int] | None = None
) -> Detections:
    """Keep detections at or above ``conf`` of the given ``classes``, then class-wise NMS at ``iou``.

    Runs on the model's cached raw output, so moving a threshold slider never re-runs the model.
    """
    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"conf must be between 0 and 1, got {conf}.")
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be above 0 and at most 1, got {iou}.")
    keep = detections.scores >= conf
    if classes is not None:
        keep &= np.isin(detections.classes, np.fromiter(classes, dtype=np.int64))
    kept = detections.take(np.flatnonzero(keep))
    if iou >= 1.0 or len(kept) < 2:
        return kept
    index = batched_nms(
        torch.from_numpy(kept.boxes), torch.from_numpy(kept.scores), torch.from_numpy(kept.classes), iou
    ).numpy()
    return kept.take(np.sort(index))  # sorted indices keep the best-first order


@dataclass(frozen=True)
class LabelIssue:
    """A line of a label file that was skipped, and why."""

    line: int
    text: str
    reason: str
    kind: str = "line"  # "line" of a file or "row" of a table

    def __str__(self) -> str:
        return f"{self.kind} {self.line}: {self.reason} ({self.text.strip()[:60]!r})"


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """The true boxes of one image: corners in pixels and class ids."""

    boxes: np.ndarray  # (M, 4) float64
    classes: np.ndarray  # (M,) int64

    def __len__(self) -> int:
        return len(self.classes)

    def take(self, index: np.ndarray) -> GroundTruth:
        return GroundTruth(self.boxes[index], self.classes[index])


@dataclass(frozen=True, eq=False)
class Labels:
    """Ground truth read from a YOLO label file: normalised corners and class ids, plus skipped lines."""

    boxes: np.ndarray  # (N, 4) corners in [0, 1]
    classes: np.ndarray  # (N,) int64
    issues: tuple[LabelIssue, ...]

    def to_ground_truth(self, width: int, height: int) -> GroundTruth:
        """The boxes in pixels of a ``width`` x ``height`` image."""
        return GroundTruth(self.boxes * np.array([width, height, width, height], dtype=np.float64), self.classes)


def _parse_line(fields: list[str], names: Mapping[int, str] | None) -> tuple[int, tuple[float, ...]]:
    """One label line's class id and centre box, or raise LabelError saying what is wrong."""
    if len(fields) != 5:
        raise LabelError(f"expected 5 values (class x_center y_center width height), found {len(fields)}")
    try:
        number = float(fields[0])
        values = tuple(float(f) for f in fields[1:])
    except ValueError:
        raise LabelError("values must be numbers") from None
    if not number.is_integer() or number < 0:
        raise LabelError(f"class id must be a whole number >= 0, got {fields[0]}")
    if number >= MAX_CLASS_ID:
        raise LabelError(f"class id {fields[0]} is too large (at most {MAX_CLASS_ID - 1:,})")
    class_id = int(number)
    if names is not None and class_id not in names:
        raise LabelError(f"class id {class_id} is unknown to the model (it knows {len(names)} classes)")
    if not all(math.isfinite(v) for v in values):
        raise LabelError("coordinates must be finite numbers (found NaN or infinity)")
    if not all(0.0 <= v <= 1.0 for v in values):
        raise LabelError("coordinates must be normalised to [0, 1] (divide pixels by the image size)")
    if values[2] <= 0 or values[3] <= 0:
        raise LabelError("width and height must be above 0")
    return class_id, values


def parse_yolo_labels(text: str, names: Mapping[int, str] | None = None, source: str = "The label file") -> Labels:
    """Read a YOLO label file: one ``class x_center y_center width height`` line per box, in [0, 1].

    Blank lines and ``#`` comments are ignored, and so is a UTF-8 byte-order mark. Bad lines
    (wrong field count, non-numbers, NaN, values outside [0, 1], unknown class ids when ``names``
    is given) are skipped and reported in :attr:`Labels.issues`; the rest is used. Boxes that
    stick out of the image are clipped.

    Raises:
        LimitExceeded: ``text`` (named ``source`` in the message) is longer than
            :data:`core.config.limits.LABEL_BYTES` or has more lines than :data:`core.config.limits.LABEL_LINES`.
    """
    limits.LABEL_BYTES.check(len(text), name=source)
    limits.LABEL_LINES.check(text.count("\n") + 1 - text.endswith("\n"), name=source)
    classes, centres, issues = [], [], []
    for number, line in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            class_id, values = _parse_line(fields, names)
        except LabelError as exc:
            issues.append(LabelIssue(number, line, str(exc)))
            continue
        classes.append(class_id)
        centres.append(values)
    return Labels(np.clip(cxcywh_to_xyxy(centres), 0.0, 1.0), np.array(classes, dtype=np.int64), tuple(issues))


def format_yolo_labels(classes: Iterable[int], boxes: object, width: int, height: int) -> str:
    """Write pixel corner boxes as YOLO label lines (the inverse of :func:`parse_yolo_labels`)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"width and height must be positive, got {width}x{height}.")
    centres = xyxy_to_cxcywh(boxes) / np.array([width, height, width, height])
    return "".join(
        f"{int(c)} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, (x, y, w, h) in zip(classes, centres, strict=True)
    )


TRUTH_COLUMNS = ("image", "class", "x1", "y1", "x2", "y2")  # one box a row, corners in pixels


def truth_rows(image: str, truth: GroundTruth, names: Mapping[int, str]) -> list[dict[str, object]]:
    """Rows for a table of boxes typed by hand (the inverse of :func:`ground_truth_from_rows`)."""
    return [
        dict(zip(TRUTH_COLUMNS, (image, names.get(int(c), str(c)), *box.round(1).tolist()), strict=True))
        for box, c in zip(truth.boxes, truth.classes, strict=True)
    ]


def _row_box(row: Mapping[str, object], ids: Mapping[str, int], width: int, height: int) -> tuple[int, list[float]]:
    """One hand-entered row's class id and corners, or raise LabelError saying what is wrong."""
    name = row.get("class")
    if name not in ids:
        raise LabelError(f"class {name!r} is not one of the model's classes")
    try:
        corners = [float(row[key]) for key in ("x1", "y1", "x2", "y2")]
    except (KeyError, TypeError, ValueError):
        raise LabelError("x1, y1, x2 and y2 must all be numbers") from None
    x1, y1, x2, y2 = corners
    if not all(math.isfinite(v) for v in corners):
        raise LabelError("x1, y1, x2 and y2 must all be filled in")
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise LabelError(f"need 0 <= x1 < x2 <= {width} and 0 <= y1 < y2 <= {height} (pixels of this image)")
    return ids[name], corners


def ground_truth_from_rows(
    rows: Iterable[Mapping[str, object]], names: Mapping[int, str], width: int, height: int
) -> tuple[GroundTruth, tuple[LabelIssue, ...]]:
    """Boxes typed by hand: rows with a ``class`` name and pixel corners ``x1, y1, x2, y2`` (other keys ignored).

    Empty rows are ignored; incomplete or impossible rows are skipped and reported, numbered from 1.
    """
    ids = {label: class_id for class_id, label in names.items()}
    classes, boxes, issues = [], [], []
    for number, row in enumerate(rows, start=1):
        if all(row.get(k) is None or (isinstance(row[k], float) and math.isnan(row[k])) for k in TRUTH_COLUMNS[1:]):
            continue  # a row just added and not filled in yet
        try:
            class_id, corners = _row_box(row, ids, width, height)
        except LabelError as exc:
            text = ", ".join(f"{row.get(k)}" for k in TRUTH_COLUMNS[1:])
            issues.append(LabelIssue(number, text, str(exc), "row"))
            continue
        classes.append(class_id)
        boxes.append(corners)
    return GroundTruth(as_boxes(boxes), np.array(classes, dtype=np.int64)), tuple(issues)
