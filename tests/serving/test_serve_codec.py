"""The wire format to the serving engine: exact round trips, and nothing but allowed types."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.explain.gradcam import grad_cams as explain
from core.features.capture import capture
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import get_model
from core.models.classification import classify
from core.models.weights import default_key
from core.serving import codec as serve_codec


@pytest.fixture(scope="module")
def model_and_image():
    return get_model(default_key()), load_image(sample_images()["cat"])


def test_results_round_trip_exactly(model_and_image) -> None:
    model, image = model_and_image
    for value in (classify(model, image), explain(model, image, [0, 1])):
        back = serve_codec.decode(serve_codec.encode(value))
        assert type(back) is type(value)
        for field in dataclasses.fields(value):
            a, b = getattr(value, field.name), getattr(back, field.name)
            if isinstance(a, tuple) and a and dataclasses.is_dataclass(a[0]):
                for x, y in zip(a, b, strict=True):
                    for f in dataclasses.fields(x):
                        np.testing.assert_array_equal(getattr(x, f.name), getattr(y, f.name))
            else:
                assert a == b


def test_feature_maps_and_the_image_keep_every_value(model_and_image) -> None:
    model, image = model_and_image
    acts = capture(model, image)
    back = serve_codec.decode(serve_codec.encode({"acts": acts, "image": image}))
    assert np.array_equal(np.asarray(back["image"]), np.asarray(image)) and back["image"].mode == image.mode
    assert back["acts"].names == acts.names
    for a, b in zip(acts.layers, back["acts"].layers, strict=True):
        assert np.array_equal(a.maps, b.maps) and a.receptive_field == b.receptive_field
        assert not b.maps.flags.writeable


def test_other_types_and_garbage_are_refused() -> None:
    @dataclasses.dataclass
    class Evil:
        x: int

    with pytest.raises(serve_codec.CodecError, match="cannot be sent"):
        serve_codec.encode(Evil(1))
    with pytest.raises(serve_codec.CodecError, match="not a serving message"):
        serve_codec.decode(b"\x80\x04 a pickle, or anything else")
    forged = serve_codec.encode({"k": 1}).replace(b'{"__dict__"', b'{"__dataclass__": "os:system", "fields": {}, "x"')
    with pytest.raises(serve_codec.CodecError):
        serve_codec.decode(forged)
