"""Inference for many sessions at once: shared results, micro-batched passes, or a remote engine.

The pages call these instead of the plain :mod:`core` functions. Each result is keyed by what
determines it (model, weights, image digest, classes, layers, k) in a :class:`SharedCache`, so
thirty students on one sample photo cost one pass; different requests that arrive together for
the same model run as one batched forward (classification) or one forward and backward
(Grad-CAM) through :class:`MicroBatcher`. With ``CONVLENS_SERVE_URL`` set, the work goes to a
Ray Serve application instead (:mod:`core.serve_client`); the answers are the same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import torch
from PIL import Image

from core import limits
from core.activations import image_digest
from core.attribution import GradCam, _check_targets, gradcam_result, layer_cams, layer_choices
from core.batching import MicroBatcher, configure_threads
from core.classify import Classification, Prediction
from core.device import inference, synchronize
from core.models import LoadedModel
from core.shared_cache import SharedCache

SERVE_ENV = "CONVLENS_SERVE_URL"
CLASSIFICATIONS = SharedCache("classifications", 4096, limits.SHARED_RESULT_BYTES // 8)
GRADCAMS = SharedCache("grad-cams", 1024, limits.SHARED_RESULT_BYTES)
configure_threads()


def remote_url() -> str | None:
    """The Ray Serve application's URL when the app is a thin client, else None (embedded)."""
    return os.environ.get(SERVE_ENV) or None


def model_id(model: LoadedModel) -> tuple:
    """What identifies a loaded model's answers: its key, weights, device and the module itself."""
    return (model.key, model.trained, model.source, str(model.device), id(model.module))


def _top(model: LoadedModel, logits: torch.Tensor, k: int) -> tuple[Prediction, ...]:
    probs = torch.softmax(logits.float(), dim=0)
    values, indices = probs.topk(min(k, probs.numel()))
    return tuple(Prediction(int(i), model.label(int(i)), float(v)) for v, i in zip(values, indices, strict=True))


def _classify_batch(requests: Sequence[tuple[LoadedModel, torch.Tensor, int]]) -> list[Classification]:
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


_CLASSIFY = MicroBatcher(_classify_batch)


def classify(model: LoadedModel, image: Image.Image, k: int = 5) -> Classification:
    """:func:`core.classify.classify`, shared by all sessions and batched with concurrent requests."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    if url := remote_url():
        from core import serve_client

        return serve_client.classify(url, model, image, k)

    def compute() -> Classification:
        batch = model.to_input(image)
        return _CLASSIFY.submit((model_id(model), tuple(batch.shape)), (model, batch, k))

    return CLASSIFICATIONS.get(("classify", model_id(model), image_digest(image), k), compute)


def _explain_batch(requests: Sequence[tuple[LoadedModel, torch.Tensor, tuple[int, ...], tuple[str, ...]]]):
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


_EXPLAIN = MicroBatcher(_explain_batch)


def explain(
    model: LoadedModel, image: Image.Image, targets: Sequence[int], layers: Sequence[str] | None = None
) -> GradCam:
    """:func:`core.attribution.explain`, shared by all sessions and batched with concurrent requests."""
    layers = tuple(layers or [layer_choices(model.key).default])
    targets = tuple(_check_targets(targets))
    if model.categories and max(targets) >= len(model.categories):  # one bad request must not fail a batch
        raise ValueError(f"target {max(targets)} is out of range: the model has {len(model.categories)} classes.")
    if url := remote_url():
        from core import serve_client

        return serve_client.explain(url, model, image, targets, layers)

    def compute() -> GradCam:
        batch = model.to_input(image)
        return _EXPLAIN.submit((model_id(model), tuple(batch.shape), layers), (model, batch, targets, layers))

    return GRADCAMS.get(("grad-cam", model_id(model), image_digest(image), targets, layers), compute)


def batch_stats() -> dict[str, dict[str, int]]:
    """Batched calls made and requests served, per kind (their ratio is the mean batch size)."""
    return {
        name: {"calls": b.calls, "requests": b.requests} for name, b in (("classify", _CLASSIFY), ("explain", _EXPLAIN))
    }
