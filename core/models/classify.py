"""Classification: the top-k classes of one image, with the time the forward pass took."""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from PIL import Image

from core.config.device import inference, synchronize
from core.models.loading import LoadedModel


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


@dataclass(frozen=True)
class Classification:
    """Top-k predictions of one model on one image."""

    model: str
    trained: bool
    top: tuple[Prediction, ...]
    forward_ms: float
    device: str
    input_shape: tuple[int, ...]


def classify(model: LoadedModel, image: Image.Image, k: int = 5) -> Classification:
    """Run ``model`` on ``image`` and return its ``k`` most probable classes.

    The forward pass runs under inference mode (and autocast on CUDA); its time excludes
    preprocessing and includes waiting for the GPU.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}.")
    batch = model.to_input(image)
    with model.lock, inference(model.device):  # no other session's hooks may see this pass
        synchronize(model.device)
        start = time.perf_counter()
        logits = model.module(batch)
        synchronize(model.device)
        elapsed = (time.perf_counter() - start) * 1000
    probs = torch.softmax(logits.float(), dim=1)[0]
    values, indices = probs.topk(min(k, probs.numel()))
    top = tuple(
        Prediction(int(i), model.label(int(i)), float(v)) for v, i in zip(values.cpu(), indices.cpu(), strict=True)
    )
    return Classification(model.display_name, model.trained, top, elapsed, str(model.device), tuple(batch.shape))
