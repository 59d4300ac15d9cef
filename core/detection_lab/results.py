"""What the detection lab shows: live curves of every strategy and their detections on the same val images."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
from PIL import Image, ImageDraw
from plotly.subplots import make_subplots

from core.detection import metrics as det_metrics
from core.detection import yolo
from core.detection.boxes import Detections, GroundTruth, parse_yolo_labels
from core.detection.pictures import CLASS_COLOURS, draw_detections
from core.detection.yolo_data import IMAGE_SUFFIXES, DetDataset
from core.detection_lab.runs import DET_STRATEGIES, DetRunRecord
from core.io.images import load_image
from core.viz.theme import FONT

STRATEGY_COLOURS = {"frozen": "#1f77b4", "finetune": "#ff7f0e", "scratch": "#7f7f7f"}
CONF = 0.25  # the detections drawn and counted after training
IOU = 0.5


def curves_figure(record: DetRunRecord) -> go.Figure:
    """Box loss (train) and val mAP50 (solid) / mAP50-95 (dotted) per epoch, one colour per strategy."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Box loss (train, lower is better)", "val mAP"))
    for key, strategy in record.strategies.items():
        colour, label = STRATEGY_COLOURS[key], DET_STRATEGIES[key].label
        x = [e.epoch for e in strategy.history]
        line = {"color": colour, "width": 3}
        fig.add_trace(
            go.Scatter(x=x, y=[e.box_loss for e in strategy.history], mode="lines+markers", name=label,
                       legendgroup=key, line=line), row=1, col=1,
        )  # fmt: skip
        for metric, name, dash in (("map50", "mAP50", "solid"), ("map50_95", "mAP50-95", "dot")):
            fig.add_trace(
                go.Scatter(x=x, y=[getattr(e, metric) for e in strategy.history], mode="lines+markers",
                           name=f"{label} {name}", legendgroup=key, line={**line, "dash": dash}), row=1, col=2,
            )  # fmt: skip
    epochs = record.config.epochs
    fig.update_xaxes(title_text="epoch", range=[0.5, epochs + 0.5], dtick=max(1, epochs // 10))
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 1.01], row=1, col=2)
    fig.update_layout(font=FONT, height=420, margin={"t": 40, "l": 10, "r": 10, "b": 10},
                      legend={"orientation": "h", "y": -0.2})  # fmt: skip
    return fig


@dataclass(frozen=True, eq=False)
class StrategyDetections:
    """One trained model's detections on the compared images, judged against their labels."""

    key: str
    label: str
    names: dict[int, str]
    report: det_metrics.DetectionReport
    seconds: float


@dataclass(frozen=True, eq=False)
class Comparison:
    """The same val images through every trained strategy."""

    images: tuple[Image.Image, ...]
    names: tuple[str, ...]
    strategies: tuple[StrategyDetections, ...]


def val_images(record: DetRunRecord, count: int) -> list[tuple[Path, GroundTruth]]:
    """The first ``count`` val images of the run's copy of the dataset with their ground truth."""
    folder = record.path / "data" / "images" / "val"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:count] if folder.is_dir() else []
    names = dict(enumerate(record.classes))
    found = []
    for path in paths:
        label = record.path / "data" / "labels" / "val" / f"{path.stem}.txt"
        with Image.open(path) as image:
            size = image.size
        text = label.read_text() if label.is_file() else ""
        found.append((path, parse_yolo_labels(text, names).to_ground_truth(*size)))
    return found


def compare(record: DetRunRecord, count: int = 4) -> Comparison:
    """Every strategy's best weights on the same ``count`` val images, judged at :data:`CONF` and :data:`IOU`.

    Raises:
        ValueError: no strategy of the run has finished an epoch, or the run has no val images.
    """
    trained = [s for s in record.strategies.values() if s.best is not None]
    samples = val_images(record, count)
    if not trained or not samples:
        raise ValueError("Nothing to compare yet: wait for at least one epoch of a strategy (and val images).")
    images = [load_image(path) for path, _ in samples]
    truths = [truth for _, truth in samples]
    found = []
    for strategy in trained:
        label = DET_STRATEGIES[strategy.key].label
        model = yolo.load_model(strategy.best, label=f"{record.run_id} {label}")
        batch = yolo.detect(model, images)
        report = det_metrics.evaluate(list(batch.detections), truths, batch.names, conf=CONF, iou=IOU)
        found.append(StrategyDetections(strategy.key, label, batch.names, report, batch.seconds))
    return Comparison(tuple(images), record.classes, tuple(found))


def preview(dataset: DetDataset, count: int = 6, side: int = 256) -> list[tuple[Image.Image, str]]:
    """The first ``count`` training images with their labelled boxes (class colours as on the YOLO page)."""
    found = []
    for sample in dataset.train[:count]:
        image = load_image(sample.image)
        truth = dataset.truth(sample, *image.size)
        scale = side / max(image.size)
        canvas = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        draw = ImageDraw.Draw(canvas)
        for box, class_id in zip(truth.boxes * scale, truth.classes.tolist(), strict=True):
            colour = CLASS_COLOURS[class_id % len(CLASS_COLOURS)]
            draw.rectangle(tuple(box), outline=colour, width=3)
            draw.text((box[0] + 3, box[1] + 2), dataset.classes[class_id], fill=colour)
        found.append((canvas, f"{sample.image.name}: {len(truth)} boxes"))
    return found


def picture(image: Image.Image, result: det_metrics.ImageResult, names: dict[int, str], side: int = 384) -> Image.Image:
    """The YOLO page's IoU view of one judged image, enlarged to ``side`` pixels so that small shapes show."""
    scale = side / max(image.size)
    dets, truth = result.detections, result.truth
    bigger = dataclasses.replace(
        result,
        detections=Detections(dets.boxes * scale, dets.scores, dets.classes),
        truth=None if truth is None else GroundTruth(truth.boxes * scale, truth.classes),
    )
    size = (round(image.width * scale), round(image.height * scale))
    return draw_detections(image.resize(size, Image.Resampling.NEAREST), bigger, names)


def summary_rows(comparison: Comparison) -> list[dict[str, object]]:
    """One row per strategy: mAP50, mAP50-95 and counts on the compared images."""
    rows = []
    for found in comparison.strategies:
        total = found.report.total
        rows.append(
            {
                "strategy": found.label,
                "mAP50": round(total.ap50 or 0.0, 3),
                "mAP50-95": round(total.ap50_95 or 0.0, 3),
                "TP / FP / FN": f"{total.tp} / {total.fp} / {total.fn}",
            }
        )
    return rows
