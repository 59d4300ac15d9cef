"""The Grad-CAM page's crop, sanity check and pass timing: computed once for every session, keyed by the request."""

from __future__ import annotations

import numpy as np
import pytest

from core import explain, serving
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import classroom, get_model
from tests.serving.test_serving import together

LAYER = "features"  # the classroom model's last conv block


@pytest.fixture
def model():
    serving.EXTRAS.clear()
    return get_model(classroom.KEY)


def _misses() -> int:
    return serving.EXTRAS.stats()["misses"]


def test_the_crop_the_model_sees_is_made_once_and_equals_the_direct_one(model) -> None:
    image = load_image(sample_images()["cat"])
    start = _misses()
    views = together(3, lambda _: serving.model_view(model, image))
    assert all(v is views[0] for v in views) and _misses() == start + 1
    direct = explain.model_view(model, image)
    assert views[0].size == direct.size and np.array_equal(np.asarray(views[0]), np.asarray(direct))
    serving.model_view(model, load_image(sample_images()["coffee"]))
    assert _misses() == start + 2  # another image: made anew


def test_a_sanity_check_randomises_once_for_every_session_and_equals_the_direct_one(model) -> None:
    image = load_image(sample_images()["cat"])
    start = _misses()
    checks = together(3, lambda _: serving.sanity_check(model, image, "grad_cam", 1, LAYER, 3))
    assert all(c is checks[0] for c in checks) and _misses() == start + 1
    direct = explain.cascading_randomization(model, image, "grad_cam", 1, LAYER, max_steps=3)
    np.testing.assert_allclose(checks[0].original, direct.original, atol=1e-6)
    for got, want in zip(checks[0].stages, direct.stages, strict=True):
        np.testing.assert_allclose(got.heat, want.heat, atol=1e-6)
        assert got.label == want.label and got.spearman == pytest.approx(want.spearman, abs=1e-6, nan_ok=True)
    assert serving.sanity_check(model, image, "grad_cam", 2, LAYER, 3) is not checks[0]  # another class
    serving.sanity_check(model, image, "saliency", 1, LAYER, 3)  # another method
    assert _misses() == start + 3


def test_a_pass_is_timed_once_per_model_and_size(model) -> None:
    start = _misses()
    times = serving.pass_times(model, (64, 64))
    assert serving.pass_times(model, (64, 64)) is times and _misses() == start + 1
    assert times.single_ms > 0 and times.batch_ms > 0
    assert serving.pass_times(model, (96, 64)) is not times and _misses() == start + 2
