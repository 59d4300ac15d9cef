"""The YOLO page's judged boxes: the counts and table of one image, the metrics over all, and the IoU explainer."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import detection, serving

SCORES = (
    ("Precision", "Of the boxes shown, the share that are right (TP / (TP + FP))."),
    ("Recall", "Of the true objects, the share that were found (TP / (TP + FN))."),
    ("F1", "The harmonic mean of precision and recall."),
    ("mAP50", "Area under the PR curve at IoU 0.5, averaged over classes (COCO, 101 points)."),
    ("mAP50-95", "The same averaged over IoU 0.50, 0.55, ... 0.95: rewards tight boxes."),
)


def boxes_table(result: detection.ImageResult, names: dict[int, str]) -> None:
    """TP, FP and FN of one image (or its box count when unlabelled) and every box with its verdict."""
    tp, fp, fn = result.counts
    if result.truth is None:
        st.metric("Boxes", len(result.detections))
        st.caption("No ground truth for this image: boxes are not judged.")
    else:
        cols = st.columns(3)
        cols[0].metric("TP", tp, help="True positive: a box on a true object of its class, IoU high enough.")
        cols[1].metric("FP", fp, help="False positive: a box on nothing, the wrong class, or a duplicate.")
        cols[2].metric("FN", fn, help="False negative: a true object that no box found.")
    st.dataframe(
        pd.DataFrame(detection.detection_rows(result, names), columns=detection.DETECTION_COLUMNS),
        hide_index=True,
        width="stretch",
        height=300,
        column_config={
            "confidence": st.column_config.NumberColumn(format="%.3f"),
            "IoU": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    st.caption("IoU: with the matched true box for a TP; for an FP, its best overlap with a box of its class.")


def metrics_panel(report: detection.DetectionReport, shared: tuple) -> None:
    """Precision, recall, F1, AP per class, the PR curve and the confusion matrix."""
    st.subheader("How good are the boxes?")
    if not report.judged:
        st.info("Add ground truth (label files or the table above) to judge the boxes.", icon=":material/rule:")
        return
    total = report.total
    scores = (total.precision, total.recall, total.f1, total.ap50, total.ap50_95)
    for col, (label, help_text), value in zip(st.columns(5), SCORES, scores, strict=True):
        col.metric(label, "–" if value is None else f"{value:.3f}", help=help_text)
    st.caption(
        f"Over {report.judged} labelled image(s), at confidence ≥ {report.conf:.2f} and IoU ≥ {report.iou:.2f}. "
        "AP sweeps the confidence itself, so it does not depend on the confidence slider."
    )
    columns = ("precision", "recall", "F1", "AP50", "AP50-95")
    st.dataframe(
        detection.class_rows(report),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in columns},
    )
    left, right = st.columns(2)
    with left:
        pr = serving.value(shared, ("pr",), lambda: detection.pr_figure(report.curves, report.iou))
        st.plotly_chart(pr, width="stretch", key="det_pr")
        st.caption(
            "Precision against recall as the confidence threshold goes down; the dot is the current threshold. "
            "The area under each curve is that class's AP."
        )
    with right:
        confusion = serving.value(shared, ("confusion",), lambda: detection.confusion_figure(report.confusion))
        st.plotly_chart(confusion, width="stretch", key="det_confusion")
        st.caption(
            "Each true box against what it was detected as. The background row holds false positives; "
            "the background column holds missed objects."
        )
    st.download_button(
        "Download the metrics (CSV)",
        detection.report_csv(report),
        file_name="detection_metrics.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="det_csv",
    )


def _box_sliders(label: str, default: tuple[int, int, int, int], key: str) -> tuple[float, float, float, float]:
    x1, x2 = st.slider(f"{label}: left and right", 0, 100, (default[0], default[2]), key=f"{key}_x")
    y1, y2 = st.slider(f"{label}: top and bottom", 0, 100, (default[1], default[3]), key=f"{key}_y")
    return x1, y1, x2, y2


@st.fragment
def iou_explainer() -> None:
    """Two boxes to move and resize, with the intersection, union and IoU as they change."""
    st.subheader("IoU, step by step")
    st.caption(
        "Move and resize box A (a prediction) and box B (the truth). IoU is 1 for a perfect fit and 0 "
        "for boxes that do not touch; detectors usually count a box as found from IoU 0.5."
    )
    controls, picture, sums = st.columns([2, 2, 2])
    with controls:
        a = _box_sliders("A", (10, 10, 60, 50), "det_a")
        b = _box_sliders("B", (30, 25, 80, 75), "det_b")
    parts = detection.iou_parts(a, b)
    picture.image(detection.iou_picture(a, b, parts), width="stretch")
    with sums:
        st.metric("IoU", f"{parts.iou:.3f}")
        st.markdown("\n\n".join(detection.iou_arithmetic(parts)))
