"""Warm timing of a model's passes, and cost estimates from it."""

import math

import pytest
import torch

from core.explain import METHODS, Options, PassTimes, measure_passes
from core.models import get_model


def test_estimates_interpolate_between_one_image_and_a_batch() -> None:
    times = PassTimes(single_ms=100.0, batch_ms=400.0, batch=4)  # each extra image costs 100 ms
    assert times.call_ms(1, backward=True) == 100.0 and times.call_ms(4, backward=True) == 400.0
    assert times.call_ms(3, backward=False) == pytest.approx(300.0 / 3)
    # Integrated Gradients, 32 steps in batches of 8: 4 calls of 8 images forward and backward.
    cost = METHODS["integrated_gradients"].cost(Options(steps=32, batch_size=8), (224, 224))
    assert cost.estimate(times) == pytest.approx(4 * (100 + 100 * 7) / 1000)
    # Grad-CAM: one image, one forward and one backward pass.
    assert METHODS["grad_cam"].cost(Options(), (224, 224)).estimate(times) == pytest.approx(0.1)


def test_measuring_leaves_the_shared_weights_without_gradients() -> None:
    model = get_model("tiny_vgg", pretrained=True)
    times = measure_passes(model, (64, 64), batch=3)
    assert times.batch == 3 and 0 < times.single_ms <= times.batch_ms
    assert all(p.grad is None for p in model.module.parameters())
    assert not math.isnan(times.seconds(10, 10, 2))
    with pytest.raises(ValueError, match="batch must be at least 2"):
        measure_passes(model, (64, 64), batch=1)
    assert torch.is_grad_enabled()
