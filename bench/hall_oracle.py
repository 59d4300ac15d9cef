"""What each simulated student must see, computed here with ``core`` called directly in-process.

The lecture-hall load test (:mod:`bench.hall`) checks every answer the server sends against
these: the zoo's top-1 label and probability, the feature-map page's most active channels and
their mean activations, the Grad-CAM caption for the second most probable class (its label and
probability), and the YOLO page's TP/FP/FN on the first image at a confidence threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core import safe_text
from core.detection import boxes, yolo
from core.detection import metrics as det_metrics
from core.explain.gradcam import grad_cams as explain
from core.features.capture import capture, input_sizes
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import get_model
from core.models.classification import classify
from core.models.classroom import KEY as HALL_MODEL

CONF_STEPS = (0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # where students move the YOLO confidence slider
TOP_CHANNELS = 8  # the feature-map page shows the 8 most active channels with their means


@dataclass(frozen=True)
class Expected:
    """The answers for the whole hall: per sample image, per layer, per confidence threshold."""

    model_label: str  # the sidebar's name of the model every student picks
    samples: tuple[str, ...]
    top1: dict[str, str]  # sample -> "**label** (p%)", the label escaped as the page shows it
    second: dict[str, str]  # sample -> radio option text of the 2nd class, "label · p%"
    gradcam: dict[str, str]  # sample -> caption prefix "Grad-CAM of label (p%)"
    layers: tuple[str, ...]
    channels: dict[tuple[str, str], tuple[str, ...]]  # (sample, layer) -> "#c · mean" captions
    detections: dict[float, tuple[str, str, str]]  # conf -> TP, FP, FN on the first detection sample


def _detections(yolo_dir: Path | None) -> dict[float, tuple[str, str, str]]:
    samples = yolo.sample_images()
    if yolo_dir is None or not samples:
        return {}
    model = yolo.load_model(yolo_dir, label=yolo_dir.name)
    images = [load_image(path) for path in samples.values()]
    batch = yolo.detect(model, images)
    labels = yolo.shipped_labels()
    truths = [
        boxes.parse_yolo_labels(labels[Path(name).stem], batch.names).to_ground_truth(*image.size)
        if Path(name).stem in labels
        else None
        for name, image in zip(samples, images, strict=True)
    ]
    kept = [boxes.filter_detections(d, iou=0.7) for d in batch.detections]  # the page's default NMS IoU
    found = {}
    for conf in CONF_STEPS:
        report = det_metrics.evaluate(kept, truths, batch.names, conf=conf, iou=0.5)
        found[conf] = tuple(str(n) for n in report.images[0].counts)
    return found


def expected(yolo_dir: Path | None, key: str = HALL_MODEL) -> Expected:
    """Compute every answer with model ``key`` (the students pick it; same environment: same weights).

    The classroom model by default: every version of the app has it (the default model changed when
    EfficientNet-Lite0 arrived), so a "before" and an "after" server answer the same questions.
    """
    model = get_model(key)
    names = tuple(sample_images())
    top1, second, gradcam, channels = {}, {}, {}, {}
    layers: tuple[str, ...] = ()
    for name in names:
        image = load_image(sample_images()[name])
        result = classify(model, image, k=5)
        best, other = result.top[0], result.top[1]
        top1[name] = f"**{safe_text.markdown(best.label)}** ({best.probability:.1%})"  # "[Mm]ost likely[:] ..."
        second[name] = f"{other.label} · {other.probability:.1%}"
        cams = explain(model, image, [other.index])
        gradcam[name] = f"Grad-CAM of {cams.labels[0]} ({cams.probabilities[0]:.1%})"
        acts = capture(model, image, input_sizes(model)[0])
        layers = acts.names
        for layer_name in acts.names:
            layer = acts.layer(layer_name)
            top = layer.top_channels(min(TOP_CHANNELS, layer.out_channels))
            channels[name, layer_name] = tuple(f"#{c} · {layer.mean[c]:.2f}" for c in top)
    return Expected(model.card.label, names, top1, second, gradcam, layers, channels, _detections(yolo_dir))
