"""The detection report as tables: one row per detection, one per class, and the class table as CSV.

User-supplied class names go through :func:`core.safe_text.csv_cell`, so a spreadsheet never runs them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping

from core import safe_text
from core.detection.metrics import DetectionReport, ImageResult

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
