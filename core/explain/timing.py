"""Warm measurements of a model's passes, so that cost estimates match what a click really takes.

The first pass of a model is slow (memory allocation, kernel selection): estimates from it said
"about 19 s" for a 0.9 s run. Here one untimed pass warms the model, then a forward and backward
pass of one image and of a batch are timed; a method's estimate interpolates between the two.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch

from core.models.loading import LoadedModel

FORWARD_SHARE = 1 / 3  # a forward pass alone costs about a third of forward + backward


@dataclass(frozen=True)
class PassTimes:
    """Warm wall-clock times of forward + backward passes, in milliseconds."""

    single_ms: float  # one image
    batch_ms: float  # ``batch`` images in one call
    batch: int

    def call_ms(self, images: int, backward: bool) -> float:
        """One call with ``images`` images: linear between one image and a full batch."""
        extra = (self.batch_ms - self.single_ms) / max(1, self.batch - 1)
        total = self.single_ms + extra * max(0, images - 1)
        return total if backward else total * FORWARD_SHARE

    def seconds(self, forwards: int, backwards: int, calls: int) -> float:
        """Estimated seconds for ``forwards`` images forward and ``backwards`` backward in ``calls`` calls."""
        images = math.ceil(max(forwards, backwards) / max(1, calls))
        return calls * self.call_ms(images, backwards > 0) / 1000


def _timed_pass(model: LoadedModel, batch: torch.Tensor) -> float:
    inputs = batch.clone().requires_grad_(True)
    start = time.perf_counter()
    scores = model.module(inputs)
    torch.autograd.grad(scores[:, 0].sum(), inputs)  # gradients of the input only: the shared weights stay clean
    if inputs.device.type == "cuda":
        torch.cuda.synchronize(inputs.device)
    return (time.perf_counter() - start) * 1000


def measure_passes(model: LoadedModel, size: tuple[int, int], batch: int = 4) -> PassTimes:
    """Time one warm forward + backward pass of 1 and of ``batch`` images of ``size`` = (H, W)."""
    if batch < 2:
        raise ValueError(f"batch must be at least 2 to measure how time grows with images, got {batch}.")
    images = torch.rand(batch, 3, *size, device=model.device)
    with model.lock:
        _timed_pass(model, images[:1])  # warm-up, untimed
        single = _timed_pass(model, images[:1])
        full = _timed_pass(model, images)
    return PassTimes(single, max(single, full), batch)
