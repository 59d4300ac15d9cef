"""The YOLO page's own work against the model's inference, on the same image in the same run.

Run: ``.venv/bin/python -m bench.detection``. The model is YOLOv8n from the weights folder
(``CONVLENS_WEIGHTS_DIR``; default here: ``../shared/weights``, a real COCO YOLOv8n in OpenVINO
INT8) on ``bus.jpg``. "Page work" is what moving a slider costs: NMS on the cached raw boxes,
COCO matching and metrics, and drawing the judged picture (target: <= 10% of one prediction).
Two more rows for the record: building the two Plotly figures, and our COCO AP against
pycocotools' COCOeval on the same detections and labels. The "Under the hood" rows: one move of
the NMS step slider (target <= 10% of one prediction), one move of its thresholds (NMS step by
step, the grids and the candidate pictures), the one extra pass that keeps all 8,400 candidates,
and a LayerCAM for one box of the ``.pt`` ball detector against that model's own prediction.
"""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from bench.common import Row, median_seconds, table
from core.detection import box_cams, candidates, inside_pictures, yolo
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
    hood = hood_rows(model, image, inference, peer_name, repeat)
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
        *hood,
        *cam_rows(repeat),
    ]


def hood_rows(model: yolo.YoloModel, image, inference: float, peer_name: str, repeat: int) -> list[Row]:
    """The "Under the hood" section's work per move, against the model's predict in the same run."""
    raw = candidates.raw_output(model, image)
    run = candidates.run_nms(raw, 0.25, 0.7)
    step = median_seconds(lambda: inside_pictures.nms_picture(raw, run, 2, model.names), repeat) * 1000
    heat = candidates.level_heatmaps(raw)

    def once() -> list:
        inside_pictures.candidates_picture(raw, range(len(raw.boxes)))
        return [inside_pictures.grid_base(raw, number, heat[number]) for number in range(len(raw.levels))]

    bases = once()
    first = median_seconds(once, repeat) * 1000

    def thresholds() -> None:
        moved = candidates.run_nms(raw, 0.25, 0.7)
        candidates.step_rows(raw, moved, model.names)
        for number, base in enumerate(bases):  # the tinted grids are drawn once per image
            inside_pictures.grid_picture(raw, number, base, moved.kept)
        inside_pictures.candidates_picture(raw, moved.above)
        inside_pictures.nms_picture(raw, moved, 1, model.names)

    moved = median_seconds(thresholds, repeat) * 1000
    extra = median_seconds(lambda: candidates.raw_output(model, image), repeat) * 1000
    return [
        Row("Under the hood: NMS step-slider move (one step's picture)", step, peer_name, inference, "<= 0.10x"),
        Row("Under the hood: threshold move (NMS steps, grids, candidates)", moved, peer_name, inference, "-"),
        Row("Under the hood: one pass keeping all 8,400 candidates", extra, peer_name, inference, "-"),
        Row("Under the hood: once per image (tinted grids, all candidates)", first, peer_name, inference, "-"),
    ]


def cam_rows(repeat: int) -> list[Row]:
    """LayerCAM for one box of the ball detector (.pt) against its own predict, if the file is there."""
    path = Path(os.environ["CONVLENS_WEIGHTS_DIR"]) / "ball_yolov9t.pt"
    if not path.is_file():
        return []
    model = yolo.load_model(path)
    image = load_image(SHARED_WEIGHTS.parent / "images" / "astronaut.png")  # it finds a "ball" there (0.81)
    raw = candidates.raw_output(model, image)
    best = int(candidates.run_nms(raw, 0.25, 0.7).kept[0])
    cam = median_seconds(lambda: box_cams.box_cam(model, raw, best, 0, "LayerCAM"), repeat) * 1000
    predict = median_seconds(lambda: yolo.detect(model, [image]), repeat) * 1000
    return [Row("Under the hood: LayerCAM for one box (forward + backward)", cam, f"{path.name} predict", predict, "-")]


if __name__ == "__main__":
    print(table(rows()))
