"""Pictures shared across sessions (issue #17): what a second student's rerun costs against drawing anew.

Run: ``.venv/bin/python -m bench.pictures`` (CPU, the cat sample, the classroom model and ResNet-18
with random weights: drawing does not depend on their values). For each picture the page shows,
"ours" is a rerun that finds it in the shared cache (:func:`core.serving.encoded`: the key and the
lookup), the peer draws and encodes it again, as every rerun of every session did before.
"""

from __future__ import annotations

import itertools

from PIL import Image

from bench.common import Row, median_seconds, table
from core import explain, features, serving
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.loading import get_model
from core.serving.pictures import PICTURES
from core.viz import overlay

_fresh = itertools.count()


def _pair(what: str, owner: object, key: tuple, draw) -> Row:
    """A cache hit beside drawing and encoding afresh (a new key each time), in ms."""
    serving.encoded(owner, key, draw)  # the first session drew it
    hit = median_seconds(lambda: serving.encoded(owner, key, draw), repeat=50)
    miss = median_seconds(lambda: serving.encoded(owner, (*key, next(_fresh)), draw), repeat=9)
    return Row(what, hit * 1000, "drawn and encoded again", miss * 1000, "<< 1x")


def rows() -> list[Row]:
    image = load_image(sample_images()["cat"])
    resnet = get_model("resnet18", pretrained=False)
    picture = explain.model_view(resnet, image)
    top = [p.index for p in serving.classify(resnet, image, k=3).top]
    cams = serving.explain(resnet, image, top)
    scaled = explain.scale_maps(cams.layers[0], shared=True)
    out = [
        _pair(
            f"Grad-CAM overlay, {picture.width} px, one of the top-3",
            cams,
            ("overlay", 0, 0.5, "jet"),
            lambda: overlay(picture, scaled.maps[0], 0.5, "jet"),
        )
    ]
    acts = serving.activations(resnet, image, 224)
    layer = acts.layer("layer1.0.conv1")
    out.append(
        _pair(
            f"feature-map grid, {layer.out_channels} maps of layer1.0.conv1",
            acts,
            ("grid", "layer1.0.conv1", "viridis"),
            lambda: Image.fromarray(features.feature_grid(layer, "viridis", shared=False)),
        )
    )
    shared = median_seconds(lambda: explain.scale_maps(cams.layers[0], shared=True), repeat=20)
    cam = median_seconds(lambda: explain.grad_cams(resnet, image, top), repeat=5)
    out.append(Row("top-3 put on one colour scale", shared * 1000, "their Grad-CAM pass", cam * 1000, "<= 0.1x"))
    return out


if __name__ == "__main__":
    print(table(rows()))
    print(f"\nshared picture cache: {PICTURES.stats()}")
