"""Judging detections against ground truth the COCO way: matching, P/R/F1, AP, PR curves, confusion.

Matching follows pycocotools' ``COCOeval`` for boxes (area range all, no crowd, maxDets=100):
per image and class, detections in descending score order each take the unmatched ground
truth with the highest IoU >= t (on a tie, the later box). AP is the mean of COCO's 101-point
interpolated precision; mAP averages it over the classes that have ground truth.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from core import safe_text
from core.detection.boxes import Detections, GroundTruth, iou_matrix

COCO_IOUS = np.linspace(0.5, 0.95, 10)  # the thresholds of AP50-95, as pycocotools builds them
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETS = 100  # per image and class, for AP
BACKGROUND = "background"


def match(det_boxes: np.ndarray, gt_boxes: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching of score-sorted detections of one class in one image.

    Returns:
        The ``(T, D)`` index of the ground truth each detection matched at each threshold
        (-1: none), and the ``(D, G)`` IoU matrix.
    """
    count, dets, gts = len(thresholds), len(det_boxes), len(gt_boxes)
    matches = np.full((count, dets), -1)
    if dets == 0 or gts == 0:
        return matches, np.zeros((dets, gts))
    ious = iou_matrix(det_boxes, gt_boxes)
    limits = np.minimum(thresholds, 1 - 1e-10)[:, None]  # pycocotools' cap, so that IoU 1 can match t=1
    taken = np.zeros((count, gts), dtype=bool)
    rows = np.arange(count)
    for d in np.flatnonzero(ious.max(axis=1) >= limits.min()):
        allowed = ~taken & (ious[d] >= limits)
        best = gts - 1 - np.argmax(np.where(allowed, ious[d], -1.0)[:, ::-1], axis=1)  # last of equal IoUs
        hit = allowed[rows, best]
        matches[hit, d] = best[hit]
        taken[rows[hit], best[hit]] = True
    return matches, ious


def interpolated_precision(scores: np.ndarray, matched: np.ndarray, n_gt: int) -> np.ndarray:
    """COCO's precision at the 101 recall points, one row per threshold (``matched`` is ``(T, N)``)."""
    order = np.argsort(-scores, kind="mergesort")
    tp = np.cumsum(matched[:, order], axis=1, dtype=np.float64)
    fp = np.cumsum(~matched[:, order], axis=1, dtype=np.float64)
    recall = tp / n_gt
    envelope = np.maximum.accumulate((tp / (tp + fp + np.spacing(1)))[:, ::-1], axis=1)[:, ::-1]
    curve = np.zeros((matched.shape[0], len(RECALL_POINTS)))
    for row in range(matched.shape[0]):
        index = np.searchsorted(recall[row], RECALL_POINTS, side="left")
        inside = index < len(scores)
        curve[row, inside] = envelope[row, index[inside]]
    return curve


@dataclass(frozen=True, eq=False)
class ImageResult:
    """One image's detections at the chosen thresholds, each judged against the ground truth.

    Without ground truth (``truth is None``) nothing is judged: ``det_tp`` is all False.
    """

    detections: Detections  # at or above the confidence threshold, best first
    truth: GroundTruth | None
    det_tp: np.ndarray  # (D,) bool
    det_gt: np.ndarray  # (D,) index of the matched ground truth, -1 for none
    det_iou: np.ndarray  # (D,) IoU with the matched box; for a false positive its best same-class IoU
    gt_tp: np.ndarray  # (M,) bool: found by some detection

    @property
    def counts(self) -> tuple[int, int, int]:
        """True positives, false positives and false negatives (all 0 without ground truth)."""
        if self.truth is None:
            return 0, 0, 0
        tp = int(self.det_tp.sum())
        return tp, len(self.det_tp) - tp, len(self.gt_tp) - int(self.gt_tp.sum())


@dataclass(frozen=True)
class ClassMetrics:
    """Counts and scores of one class (or of all, ``class_id == -1``) over the labelled images."""

    class_id: int
    name: str
    n_gt: int
    tp: int
    fp: int
    fn: int
    ap50: float | None  # None: no ground truth of this class, so COCO leaves it out
    ap50_95: float | None
    ap_at_iou: float | None  # AP at the chosen IoU threshold

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.n_gt if self.n_gt else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True, eq=False)
class PRCurve:
    """Interpolated precision against recall for one class at the chosen IoU, with the operating point."""

    name: str
    recall: np.ndarray
    precision: np.ndarray
    ap: float
    point: tuple[float, float | None]  # (recall, precision) at the confidence threshold


@dataclass(frozen=True, eq=False)
class ConfusionMatrix:
    """Counts of true class (rows) against predicted class (columns); the last of each is background."""

    labels: tuple[str, ...]
    counts: np.ndarray


@dataclass(frozen=True, eq=False)
class DetectionReport:
    """Everything the metrics panel shows, at one confidence and one IoU threshold."""

    conf: float
    iou: float
    images: tuple[ImageResult, ...]
    classes: tuple[ClassMetrics, ...]
    total: ClassMetrics
    curves: tuple[PRCurve, ...]
    confusion: ConfusionMatrix
    judged: int  # images with ground truth


@dataclass
class _ClassRuns:
    scores: list[np.ndarray] = field(default_factory=list)
    matched: list[np.ndarray] = field(default_factory=list)
    n_gt: int = 0
    tp: int = 0
    fp: int = 0


def _unjudged(detections: Detections) -> ImageResult:
    none = np.zeros(len(detections), dtype=bool)
    return ImageResult(detections, None, none, np.full(len(detections), -1), np.zeros(len(detections)), none[:0])


def _judge(
    dets: Detections, truth: GroundTruth, conf: float, thresholds: np.ndarray, runs: dict[int, _ClassRuns]
) -> ImageResult:
    """Match one image class by class at every threshold; record what AP needs in ``runs``."""
    det_gt = np.full(len(dets), -1)
    det_iou = np.zeros(len(dets))
    shown = dets.scores >= conf
    for class_id in np.union1d(dets.classes, truth.classes).tolist():
        di, gi = np.flatnonzero(dets.classes == class_id), np.flatnonzero(truth.classes == class_id)
        matches, ious = match(dets.boxes[di], truth.boxes[gi], thresholds)
        chosen = matches[-1]
        if len(gi):
            det_gt[di] = np.where(chosen >= 0, gi[chosen], -1)
            det_iou[di] = np.where(chosen >= 0, ious[np.arange(len(di)), chosen], ious.max(axis=1, initial=0.0))
        run = runs.setdefault(class_id, _ClassRuns())
        run.scores.append(dets.scores[di][:MAX_DETS])
        run.matched.append(matches[:, :MAX_DETS] >= 0)
        run.n_gt += len(gi)
        tp = int(((chosen >= 0) & shown[di]).sum())
        run.tp += tp
        run.fp += int(shown[di].sum()) - tp
    det_gt = det_gt[shown]
    gt_tp = np.zeros(len(truth), dtype=bool)
    gt_tp[det_gt[det_gt >= 0]] = True
    return ImageResult(dets.take(shown), truth, det_gt >= 0, det_gt, det_iou[shown], gt_tp)


def confusion_matrix(results: Sequence[ImageResult], names: Mapping[int, str], iou: float) -> ConfusionMatrix:
    """Class-agnostic matching by descending IoU (>= ``iou``); unmatched boxes meet the background."""
    pairs_of_images = [(r.truth, r.detections) for r in results if r.truth is not None]
    ids = sorted({int(c) for truth, dets in pairs_of_images for c in (*truth.classes, *dets.classes)})
    where = {class_id: i for i, class_id in enumerate(ids)}
    background = len(ids)
    counts = np.zeros((background + 1, background + 1), dtype=np.int64)
    for truth, dets in pairs_of_images:
        ious = iou_matrix(truth.boxes, dets.boxes)
        pairs = np.argwhere(ious >= iou)
        pairs = pairs[np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="stable")]
        free_gt, free_det = set(range(len(truth))), set(range(len(dets)))
        for g, d in pairs.tolist():
            if g in free_gt and d in free_det:
                free_gt.remove(g)
                free_det.remove(d)
                counts[where[int(truth.classes[g])], where[int(dets.classes[d])]] += 1
        for g in free_gt:
            counts[where[int(truth.classes[g])], background] += 1
        for d in free_det:
            counts[background, where[int(dets.classes[d])]] += 1
    return ConfusionMatrix((*(names.get(i, str(i)) for i in ids), BACKGROUND), counts)


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def evaluate(
    detections: Sequence[Detections],
    truths: Sequence[GroundTruth | None],
    names: Mapping[int, str],
    *,
    conf: float,
    iou: float,
    classes: Collection[int] | None = None,
) -> DetectionReport:
    """Judge every image's detections against its ground truth (None: an unlabelled image, skipped).

    Args:
        detections: per image, after NMS, at every confidence (AP sweeps the confidence itself).
        truths: per image, its ground truth or None.
        names: class names by id.
        conf: the confidence threshold for TP/FP/FN, precision, recall, F1 and the confusion matrix.
        iou: the IoU threshold a detection needs to count as a true positive.
        classes: judge only these classes (both boxes and truth); None for all.
    """
    if len(detections) != len(truths):
        raise ValueError(f"detections and truths must be per image: {len(detections)} vs {len(truths)}.")
    if not 0.0 < iou <= 1.0:
        raise ValueError(f"iou must be above 0 and at most 1, got {iou}.")
    if classes is not None:
        wanted = np.fromiter(classes, dtype=np.int64)
        detections = [d.take(np.isin(d.classes, wanted)) for d in detections]
        truths = [None if t is None else t.take(np.isin(t.classes, wanted)) for t in truths]
    thresholds = np.append(COCO_IOUS, iou)  # the last row is the chosen threshold
    runs: dict[int, _ClassRuns] = {}
    results = tuple(
        _unjudged(d.take(d.scores >= conf)) if t is None else _judge(d, t, conf, thresholds, runs)
        for d, t in zip(detections, truths, strict=True)
    )
    classes, curves = [], []
    for class_id in sorted(runs):
        run, name = runs[class_id], names.get(class_id, str(class_id))
        if not run.n_gt and not run.tp + run.fp:
            continue
        ap50 = ap50_95 = ap_at = None
        if run.n_gt:
            curve = interpolated_precision(np.concatenate(run.scores), np.concatenate(run.matched, axis=1), run.n_gt)
            ap = curve.mean(axis=1)
            ap50, ap50_95, ap_at = float(ap[0]), float(ap[:-1].mean()), float(ap[-1])
        metrics = ClassMetrics(class_id, name, run.n_gt, run.tp, run.fp, run.n_gt - run.tp, ap50, ap50_95, ap_at)
        classes.append(metrics)
        if run.n_gt:
            curves.append(PRCurve(name, RECALL_POINTS, curve[-1], ap_at, (metrics.recall, metrics.precision)))
    rated = [c for c in classes if c.n_gt]
    total = ClassMetrics(
        -1,
        "all",
        sum(c.n_gt for c in classes),
        sum(c.tp for c in classes),
        sum(c.fp for c in classes),
        sum(c.fn for c in classes),
        _mean([c.ap50 for c in rated]),
        _mean([c.ap50_95 for c in rated]),
        _mean([c.ap_at_iou for c in rated]),
    )
    return DetectionReport(
        conf,
        iou,
        results,
        tuple(classes),
        total,
        tuple(curves),
        confusion_matrix(results, names, iou),
        sum(t is not None for t in truths),
    )


def classes_seen(detections: Sequence[Detections], truths: Sequence[GroundTruth | None], conf: float) -> list[int]:
    """The class ids among detections at or above ``conf`` and in the ground truth, sorted."""
    found = {int(c) for d in detections for c in d.classes[d.scores >= conf]}
    return sorted(found.union(*(t.classes.tolist() for t in truths if t is not None)))


DETECTION_COLUMNS = ("verdict", "class", "confidence", "IoU", "box (x1, y1, x2, y2)")
CLASS_COLUMNS = ("class", "truth boxes", "TP", "FP", "FN", "precision", "recall", "F1", "AP50", "AP50-95")


def detection_rows(result: ImageResult, names: Mapping[int, str]) -> list[dict[str, object]]:
    """One table row per detection of an image (verdict "-" without ground truth), best first."""
    judged = result.truth is not None
    dets = result.detections
    return [
        dict(
            zip(
                DETECTION_COLUMNS,
                (
                    ("TP" if tp else "FP") if judged else "-",
                    names.get(int(c), str(c)),
                    float(score),
                    float(iou) if judged else None,
                    ", ".join(f"{v:.0f}" for v in box),
                ),
                strict=True,
            )
        )
        for box, score, c, tp, iou in zip(
            dets.boxes, dets.scores, dets.classes, result.det_tp, result.det_iou, strict=True
        )
    ]


def class_rows(report: DetectionReport) -> list[dict[str, object]]:
    """One table row per class and a last one for all (None where a score is undefined)."""
    return [
        dict(
            zip(
                CLASS_COLUMNS,
                (c.name, c.n_gt, c.tp, c.fp, c.fn, c.precision, c.recall, c.f1, c.ap50, c.ap50_95),
                strict=True,
            )
        )
        for c in (*report.classes, report.total)
    ]


def report_csv(report: DetectionReport) -> str:
    """The per-class table as CSV, with the thresholds on every row (empty cells where undefined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*CLASS_COLUMNS, "confidence threshold", "IoU threshold"])
    for row in class_rows(report):
        cells = [
            "" if v is None else f"{v:.4f}" if isinstance(v, float) else safe_text.csv_cell(v) for v in row.values()
        ]
        writer.writerow([*cells, report.conf, report.iou])
    return out.getvalue()
