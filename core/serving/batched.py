"""Batched feature-map capture, attribution and detection: one pass for many requests.

The Ray Serve deployments (:mod:`core.serving.app`) group the requests of a ``@serve.batch`` by
what must be equal for them to share a pass, and call these once per group:

- captures of one model at one input shape: ONE forward over the stacked images, each
  convolution's maps split per image (:func:`capture_batch`);
- Grad-CAM attributions of one model, layer and input shape: ONE forward and ONE backward
  (:func:`attribute_batch`); the Captum methods run per image inside the group;
- detections of one YOLO model whose images all have one size: ONE Ultralytics ``predict``
  per :data:`core.detection.yolo.BATCH` images (:func:`detect_batch`). Images of one size are
  letterboxed alike whatever the batch (Ultralytics pads a mixed batch differently), so the
  boxes equal one-at-a-time boxes (tested).

Rows of a batch are independent in eval mode: every answer equals the one-at-a-time answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from core.config import limits
from core.detection import yolo
from core.explain import methods as attribution_methods
from core.explain.gradcam import GradCAM
from core.explain.methods import Attribution, Options
from core.features.capture import CaptureItem, capture_batch, capture_item
from core.models import LoadedModel

__all__ = [
    "AttributionItem",
    "CaptureItem",
    "attribute_batch",
    "attribution_item",
    "capture_batch",
    "capture_item",
    "detect_batch",
    "detection_group",
]  # the captures' batch lives with capture, in core.features.capture


@dataclass(frozen=True, eq=False)
class AttributionItem:
    """One attribution request, checked: method, class, layer and options of one image."""

    model: LoadedModel
    image: Image.Image
    batch: torch.Tensor
    method: str
    target: int
    layer: str
    options: Options

    @property
    def group(self) -> tuple:
        """What requests must share to run in one pass."""
        return (id(self.model.module), tuple(self.batch.shape), self.method, self.layer, self.options)


def attribution_item(
    model: LoadedModel, image: Image.Image, method: str, target: int, layer: str, options: Options
) -> AttributionItem:
    """Check and prepare an attribution request (an unknown method or class fails here, alone)."""
    attribution_methods.method(method)
    if model.categories and not 0 <= target < len(model.categories):
        raise ValueError(f"target {target} is out of range: {model.card.label} has {len(model.categories)} classes.")
    return AttributionItem(model, image, model.to_input(image), method, int(target), layer, options)


def attribute_batch(items: Sequence[AttributionItem]) -> list[Attribution]:
    """:func:`core.explain.methods.attribute` of every item (one group): Grad-CAM in ONE forward and backward."""
    first = items[0]
    if first.method != "grad_cam":
        return [attribution_methods.attribute(i.model, i.image, i.method, i.target, i.layer, i.options) for i in items]
    stacked = torch.cat([item.batch for item in items])
    heat = GradCAM(first.model.module, first.layer, lock=first.model.lock).attribute(stacked, [i.target for i in items])
    cost = attribution_methods.method("grad_cam").cost(first.options, tuple(stacked.shape[-2:]))
    return [
        Attribution("grad_cam", item.target, item.model.label(item.target), item.layer, heat[i], cost)
        for i, item in enumerate(items)
    ]


def detection_group(model: yolo.YoloModel, images: Sequence[Image.Image]) -> tuple:
    """Detections that may share a predict call: one model, and all their images of one size (else alone)."""
    sizes = {image.size for image in images}
    return (model.cache_key, next(iter(sizes)) if len(sizes) == 1 else object())


def detect_batch(requests: Sequence[tuple[yolo.YoloModel, Sequence[Image.Image]]]) -> list[yolo.DetectionBatch]:
    """:func:`core.detection.yolo.detect` of every request (one :func:`detection_group`), their images together.

    Each answer's ``seconds`` is the time of the shared passes it ran in.
    """
    model = requests[0][0]
    answers: list[yolo.DetectionBatch] = []
    start = 0
    while start < len(requests):  # at most limits.DETECTION_IMAGES images per detect call
        end, count = start, 0
        while end < len(requests) and (end == start or count + len(requests[end][1]) <= limits.DETECTION_IMAGES.value):
            count += len(requests[end][1])
            end += 1
        together = yolo.detect(model, [image for _, images in requests[start:end] for image in images])
        first = 0
        for _, images in requests[start:end]:
            part = slice(first, first + len(images))
            first += len(images)
            answers.append(
                dataclasses.replace(together, detections=together.detections[part], sizes=together.sizes[part])
            )
        start = end
    return answers
