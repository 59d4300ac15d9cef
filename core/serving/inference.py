"""Inference for many sessions at once: shared results, micro-batched passes, or a remote engine.

The pages call these instead of the plain :mod:`core` functions. Each result is keyed by what
determines it (model, weights, image digest, classes, layers, k) in a :class:`SharedCache`, so
thirty students on one sample photo cost one pass; different requests that arrive together for
the same model run as one batched forward (classification) or one forward and backward
(Grad-CAM) through :class:`MicroBatcher`. With ``CONVLENS_SERVE_URL`` set, the work goes to a
Ray Serve application instead (:mod:`core.serving.client`); the answers are the same.
"""

from __future__ import annotations

import functools
import gc
import os
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from PIL import Image

from core.config import limits
from core.config.device import inference, synchronize
from core.detection import yolo
from core.errors import ConvLensError
from core.features.capture import ACTIVATIONS, Activations, get_activations, image_digest
from core.models import LoadedModel, get_model
from core.models.classification import Classification, Prediction
from core.serving import client as serve_client
from core.util.batching import MicroBatcher, configure_threads
from core.util.shared_cache import SharedCache, register_stats

if TYPE_CHECKING:  # core.explain imports Captum (a second): only the pages that explain need it
    from core.explain.gradcam import GradCamResult
    from core.explain.methods import Attribution, Options

SERVE_ENV = "CONVLENS_SERVE_URL"
CLASSIFICATIONS = SharedCache("classifications", 4096, limits.SHARED_RESULT_BYTES // 8)
GRADCAMS = SharedCache("grad-cams", 1024, limits.SHARED_RESULT_BYTES)
ATTRIBUTIONS = SharedCache("attributions", 256, limits.SHARED_RESULT_BYTES // 4)
configure_threads()


@functools.cache
def freeze_startup_objects() -> None:
    """Once per process: hide the objects alive now (torch, plotly, models...) from the cyclic collector.

    A full collection walks every object; with the app's libraries loaded that is ~0.5 s holding
    the GIL. Frozen objects are never freed (they live as long as the process anyway).
    """
    gc.collect()
    gc.freeze()


def remote_url(model: LoadedModel | None = None) -> str | None:
    """The Ray Serve application's URL when the app is a thin client, else None (embedded).

    Only zoo models loaded by :func:`core.models.get_model` go remote (the engine loads the same
    ones); a model built from a user's uploaded weights runs here.
    """
    url = os.environ.get(SERVE_ENV) or None
    if url is None or model is None:
        return url
    try:
        return url if get_model(model.key, pretrained=model.trained, device=model.device) is model else None
    except ConvLensError:
        return None


def model_id(model: LoadedModel) -> tuple:
    """What identifies a loaded model's answers: its key, weights, device and the module itself."""
    return (model.key, model.trained, model.source, str(model.device), id(model.module))


def _top(model: LoadedModel, logits: torch.Tensor, k: int) -> tuple[Prediction, ...]:
    probs = torch.softmax(logits.float(), dim=0)
    values, indices = probs.topk(min(k, probs.numel()))
    return tuple(Prediction(int(i), model.label(int(i)), float(v)) for v, i in zip(values, indices, strict=True))


def classify_batch(requests: Sequence[tuple[LoadedModel, torch.Tensor, int]]) -> list[Classification]:
    model = requests[0][0]
    batch = torch.cat([r[1] for r in requests])
    with model.lock, inference(model.device):
        synchronize(model.device)
        start = time.perf_counter()
        logits = model.module(batch.contiguous(memory_format=torch.channels_last) if batch.is_cuda else batch)
        synchronize(model.device)
        elapsed = (time.perf_counter() - start) * 1000
    logits = logits.float().cpu()
    shape = (1, *batch.shape[1:])
    return [
        Classification(model.display_name, model.trained, _top(model, row, k), elapsed, str(model.device), shape)
        for row, (_, _, k) in zip(logits, requests, strict=True)
    ]


_CLASSIFY = MicroBatcher(classify_batch)


def classify(model: LoadedModel, image: Image.Image, k: int = 5) -> Classification:
    """:func:`core.models.classification.classify`, shared by all sessions and batched with concurrent requests."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    url = remote_url(model)

    def compute() -> Classification:
        if url:
            return serve_client.call(url, "classify", {"model": serve_client.ref(model), "image": image, "k": k})
        batch = model.to_input(image)
        return _CLASSIFY.submit((model_id(model), tuple(batch.shape)), (model, batch, k))

    return CLASSIFICATIONS.get(("classify", model_id(model), image_digest(image), k), compute)


def check_targets(model: LoadedModel, targets: Sequence[int]) -> tuple[int, ...]:
    """Class indices of ``model``, checked before batching: one bad request must not fail a batch."""
    from core.explain.gradcam import _check_targets

    checked = tuple(_check_targets(targets))
    if model.categories and max(checked) >= len(model.categories):
        raise ValueError(f"target {max(checked)} is out of range: the model has {len(model.categories)} classes.")
    return checked


def layer_cams(*args, **kwargs):
    """:func:`core.explain.gradcam.layer_cams`, imported on first use (core.explain imports Captum)."""
    from core.explain.gradcam import layer_cams as run

    return run(*args, **kwargs)


def explain_batch(requests: Sequence[tuple[LoadedModel, torch.Tensor, tuple[int, ...], tuple[str, ...]]]):
    from core.explain.gradcam import gradcam_result

    model, layers = requests[0][0], list(requests[0][3])
    rows = torch.cat([r[1].expand(len(r[2]), -1, -1, -1) for r in requests])
    targets = [t for r in requests for t in r[2]]
    cams, logits = layer_cams(model.module, rows, targets, layers, model.lock)
    results, start = [], 0
    for _, batch, mine, _ in requests:
        part = slice(start, start + len(mine))
        start += len(mine)
        results.append(gradcam_result(model, batch, mine, {n: c[part] for n, c in cams.items()}, logits[part]))
    return results


_EXPLAIN = MicroBatcher(explain_batch)


def explain(
    model: LoadedModel, image: Image.Image, targets: Sequence[int], layers: Sequence[str] | None = None
) -> GradCamResult:
    """:func:`core.explain.gradcam.explain`, shared by all sessions and batched with concurrent requests."""
    from core.explain.gradcam import layer_choices

    layers = tuple(layers or [layer_choices(model.key).default])
    targets = check_targets(model, targets)
    url = remote_url(model)

    def compute() -> GradCamResult:
        if url:
            request = {"model": serve_client.ref(model), "image": image, "targets": targets, "layers": layers}
            return serve_client.call(url, "explain", request)
        batch = model.to_input(image)
        return _EXPLAIN.submit((model_id(model), tuple(batch.shape), layers), (model, batch, targets, layers))

    return GRADCAMS.get(("grad-cam", model_id(model), image_digest(image), targets, layers), compute)


def activations(model: LoadedModel, image: Image.Image, size: int | None = None) -> Activations:
    """:func:`core.features.capture.get_activations`, or the engine's capture when the app is a thin client."""
    url = remote_url(model)
    if url is None:
        return get_activations(model, image, size)
    request = {"model": serve_client.ref(model), "image": image, "size": size}
    key = ("remote capture", model_id(model), image_digest(image), size)
    return ACTIVATIONS.get(key, lambda: serve_client.call(url, "capture", request))


def attribute(
    model: LoadedModel, image: Image.Image, method: str, target: int, layer: str, options: Options | None = None
) -> Attribution:
    """:func:`core.explain.methods.attribute`, shared by all sessions (here, or on the engine for a thin client).

    Grad-CAM goes through :func:`explain` (batched with other sessions' requests, shared with the
    top-3 and depth views) and comes back as an :class:`Attribution` like the other methods.
    """
    from core.explain import methods as attribution_methods

    options = options or attribution_methods.Options()
    url = remote_url(model)

    def compute() -> Attribution:
        if method == "grad_cam":
            return attribution_methods.from_grad_cam(explain(model, image, (target,), (layer,)))
        if url is None:
            return attribution_methods.attribute(model, image, method, target, layer, options)
        request = {"model": serve_client.ref(model), "image": image, "method": method, "target": target}
        return serve_client.call(url, "attribute", request | {"layer": layer, "options": options})

    if method == "grad_cam":
        options = attribution_methods.Options()  # Grad-CAM has no settings: one entry whatever the widgets say
    key = ("attribution", model_id(model), image_digest(image), method, target, layer, options)
    return ATTRIBUTIONS.get(key, compute)


def detect(model: yolo.YoloModel, images: Sequence[Image.Image]) -> yolo.DetectionBatch:
    """:func:`core.detection.yolo.detect` here, or on the engine (same model path on its nodes) when configured."""
    url = remote_url()
    if url is None:
        return yolo.detect(model, images)
    limits.DETECTION_IMAGES.check(len(images))
    return serve_client.call(url, "detect", {"path": str(model.path), "label": model.label, "images": list(images)})


for _name, _batcher in (("classify batches", _CLASSIFY), ("Grad-CAM batches", _EXPLAIN)):
    register_stats(_name, lambda b=_batcher: {"calls": b.calls, "requests": b.requests})
