"""Batched capture, attribution and detection (what Ray Serve's batches run): one pass, one-at-a-time answers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from core.detection import yolo
from core.explain.methods import Options, attribute
from core.explain.target_layers import layer_choices
from core.features.capture import capture
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import get_model
from core.models.weights import default_key
from core.serving import batched
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    return [load_image(path) for path in list(sample_images().values())[:3]]


def _forwards(model, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batch sizes of the forward passes ``model`` runs from now on."""
    sizes: list[int] = []
    original = model.module.forward
    monkeypatch.setattr(model.module, "forward", lambda x: sizes.append(len(x)) or original(x))
    return sizes


def test_batched_capture_equals_one_at_a_time_in_one_forward(images, monkeypatch: pytest.MonkeyPatch) -> None:
    model = get_model(default_key())
    alone = [capture(model, image, 160) for image in images]
    sizes = _forwards(model, monkeypatch)
    got = batched.capture_batch([batched.capture_item(model, image, 160) for image in images])
    assert sizes == [len(images)]
    for a, b in zip(got, alone, strict=True):
        assert a.names == b.names and a.image.tobytes() == b.image.tobytes()
        for x, y in zip(a.layers, b.layers, strict=True):
            assert (x.kernel, x.stride, x.after, x.receptive_field) == (y.kernel, y.stride, y.after, y.receptive_field)
            assert x.maps.shape == y.maps.shape and not x.maps.flags.writeable
            np.testing.assert_allclose(x.maps.astype(np.float32), y.maps.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_a_capture_size_the_model_does_not_offer_fails_before_batching(images) -> None:
    with pytest.raises(ValueError, match="size 100 px is not offered"):
        batched.capture_item(get_model(default_key()), images[0], 100)


@pytest.mark.parametrize("method", ["grad_cam", "saliency"])
def test_batched_attribution_equals_one_at_a_time(images, method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    model = get_model(default_key())
    layer, targets = layer_choices(model.key).default, [1, 285, 967]
    alone = [attribute(model, image, method, t, layer, Options()) for image, t in zip(images, targets, strict=True)]
    items = [
        batched.attribution_item(model, i, method, t, layer, Options()) for i, t in zip(images, targets, strict=True)
    ]
    assert len({item.group for item in items}) == 1
    sizes = _forwards(model, monkeypatch)
    got = batched.attribute_batch(items)
    assert sizes == ([len(images)] if method == "grad_cam" else [1, 1, 1])  # Captum methods run per image
    for a, b in zip(got, alone, strict=True):
        assert (a.method, a.target, a.label, a.layer, a.cost, a.note) == (
            b.method,
            b.target,
            b.label,
            b.layer,
            b.cost,
            b.note,
        )
        np.testing.assert_allclose(a.heat, b.heat, atol=1e-4)


def test_a_bad_attribution_target_fails_alone(images) -> None:
    model = get_model(default_key())
    with pytest.raises(ValueError, match="target 5000 is out of range"):
        batched.attribution_item(model, images[0], "grad_cam", 5000, layer_choices(model.key).default, Options())
    with pytest.raises(ValueError, match="Unknown method"):
        batched.attribution_item(model, images[0], "nope", 1, layer_choices(model.key).default, Options())


@pytest.mark.parametrize("weights", [("yolov8n_int8_openvino_model",), ("ball_yolov9t.pt",)])
def test_batched_detection_equals_one_at_a_time_in_one_predict(weights, monkeypatch: pytest.MonkeyPatch) -> None:
    detector = yolo.load_model(shared_path("weights", *weights))
    bus, zidane = (load_image(p) for p in yolo.sample_images().values())
    same = [bus.resize((480, 640)), zidane.resize((480, 640)), bus.crop((0, 0, 480, 640))]
    requests = [(detector, [same[0]]), (detector, [same[1], same[2]]), (detector, [zidane])]
    groups = [batched.detection_group(*r) for r in requests]
    assert groups[0] == groups[1] and groups[2] != groups[0]  # a request of another image size runs alone
    alone = [yolo.detect(detector, imgs) for _, imgs in requests[:2]]
    calls: list[int] = []
    original = detector.model.predict
    monkeypatch.setattr(
        detector.model, "predict", lambda images, **kw: calls.append(len(images)) or original(images, **kw)
    )
    got = batched.detect_batch(requests[:2])
    assert calls == [3]
    for a, b in zip(got, alone, strict=True):
        assert a.sizes == b.sizes and a.names == b.names and a.model == b.model
        for x, y in zip(a.detections, b.detections, strict=True):
            np.testing.assert_array_equal(x.classes, y.classes)
            np.testing.assert_allclose(x.boxes, y.boxes, atol=1e-2)
            np.testing.assert_allclose(x.scores, y.scores, atol=1e-4)
