"""The YOLO page's own work against the model's inference, on the same image in the same run.

Run: ``.venv/bin/python -m bench.detection``. The model is YOLOv8n from the weights folder
(``CONVLENS_WEIGHTS_DIR``; default here: ``../shared/weights``, a real COCO YOLOv8n in OpenVINO
INT8) on ``bus.jpg``. "Page work" is what moving a slider costs: NMS on the cached raw boxes,
COCO matching and metrics, and drawing the judged picture (target: <= 10% of one prediction).
Two more rows for the record: building the two Plotly figures, and our COCO AP against
pycocotools' COCOeval on the same detections and labels.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from bench.common import Row, median_seconds, table
from core.detection import yolo
from core.detection.boxes import filter_detections, parse_yolo_labels, xyxy_to_xywh
from core.detection.metrics import evaluate
from core.detection.pictures import confusion_figure, draw_detections, pr_figure
from core.io.images import load_image

SHARED_WEIGHTS = Path(__file__).resolve().parents[2] / "shared" / "weights"


def _pycocotools_ap(detections, truths) -> None:
    """COCOeval on the same boxes (the peer), silenced."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations = [
        {"id": n, "image_id": i, "category_id": int(c) + 1, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
        for n, (i, c, b) in enumerate(
            (
                (i, c, b)
                for i, t in enumerate(truths)
                for b, c in zip(xyxy_to_xywh(t.boxes).tolist(), t.classes, strict=True)
            ),
            start=1,
        )
    ]
    results = [
        {"image_id": i, "category_id": int(c) + 1, "bbox": b, "score": float(s)}
        for i, d in enumerate(detections)
        for b, s, c in zip(xyxy_to_xywh(d.boxes).tolist(), d.scores, d.classes, strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {
            "images": [{"id": i} for i in range(len(truths))],
            "annotations": annotations,
            "categories": [{"id": c + 1} for c in range(80)],
        }
        gt.createIndex()
        coco_eval = COCOeval(gt, gt.loadRes(results), "bbox")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()


def rows(repeat: int = 15) -> list[Row]:
    if not os.environ.get("CONVLENS_WEIGHTS_DIR") and SHARED_WEIGHTS.is_dir():
        os.environ["CONVLENS_WEIGHTS_DIR"] = str(SHARED_WEIGHTS)
    model = yolo.load_model(yolo.find_model("yolov8n"))
    names = model.names
    samples = {name: load_image(path) for name, path in yolo.sample_images().items()}
    labels = yolo.shipped_labels()
    truths = [parse_yolo_labels(labels[Path(n).stem], names).to_ground_truth(*im.size) for n, im in samples.items()]
    image, truth = samples["bus.jpg"], truths[0]
    raw = yolo.detect(model, [image]).detections[0]

    def predict() -> None:
        yolo.detect(model, [image])

    def page_work():
        kept = filter_detections(raw, iou=0.7)
        report = evaluate([kept], [truth], names, conf=0.25, iou=0.5)
        draw_detections(image, report.images[0], names)
        return report

    report = page_work()
    inference = median_seconds(predict, repeat) * 1000
    work = median_seconds(page_work, repeat) * 1000
    figures = median_seconds(lambda: (pr_figure(report.curves, 0.5), confusion_figure(report.confusion)), repeat)

    both = [filter_detections(d, iou=0.7) for d in yolo.detect(model, list(samples.values())).detections]
    ours_ap = median_seconds(lambda: evaluate(both, truths, names, conf=0.25, iou=0.5), repeat) * 1000
    peer_ap = median_seconds(lambda: _pycocotools_ap(both, truths), repeat) * 1000
    peer_name = f"{model.label} predict ({model.format}, bus.jpg)"
    return [
        Row(
            "YOLO page work per slider move: NMS + matching + metrics + drawing", work, peer_name, inference, "<= 0.10x"
        ),
        Row("YOLO page: PR curve + confusion matrix figures (Plotly)", figures * 1000, peer_name, inference, "-"),
        Row(
            f"COCO AP50/AP50-95, bus + zidane ({sum(map(len, both))} boxes)",
            ours_ap,
            "pycocotools COCOeval",
            peer_ap,
            "-",
        ),
    ]


if __name__ == "__main__":
    print(table(rows()))
