"""Pictures shared across sessions (issue #17): what a second student's rerun costs against drawing anew.

Run: ``.venv/bin/python -m bench.pictures`` (CPU, the cat sample, the classroom model and ResNet-18
with random weights: drawing does not depend on their values; YOLOv8n on bus.jpg from shared/).
For each picture the page shows, "ours" is a rerun that finds it in the shared cache
(:func:`core.serving.encoded`: the key and the lookup), the peer draws and encodes it again, as
every rerun of every session did before; for a shared result, the peer computes it again.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PIL import Image

from bench.common import Row, median_seconds, table
from core import detection, explain, features, serving
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.loading import get_model
from core.serving.pictures import PICTURES
from core.viz import overlay

_fresh = itertools.count()
SHARED = Path(__file__).resolve().parents[2] / "shared"  # the YOLO rows are skipped when it is absent


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
    check = lambda: serving.sanity_check(resnet, image, "grad_cam", top[0], "layer4", 3)  # noqa: E731
    check()  # the first student pressed the button
    again = lambda: explain.cascading_randomization(resnet, image, "grad_cam", top[0], "layer4", max_steps=3)  # noqa: E731
    ours, peer = median_seconds(check, repeat=20), median_seconds(again, repeat=3)
    out.append(Row("sanity check (4 maps), a second session", ours * 1000, "randomised again", peer * 1000, "<< 1x"))
    return out + hood_rows()


def hood_rows() -> list[Row]:
    """YOLO "Under the hood" on bus.jpg: a second student's keep-all pass and NMS step picture."""
    weights = SHARED / "weights" / "yolov8n_int8_openvino_model"
    if not weights.is_dir():
        print(f"(YOLO rows skipped: no {weights})")
        return []
    model = detection.load_model(weights)
    image = load_image(SHARED / "images" / "bus.jpg")
    raw = serving.hood.raw_output(model, image)  # the first student's pass
    ours = median_seconds(lambda: serving.hood.raw_output(model, image), repeat=20)
    peer = median_seconds(lambda: detection.raw_output(model, image), repeat=5)
    out = [
        Row("YOLO keep-all pass (8,400 candidates), a second session", ours * 1000, "run again", peer * 1000, "<< 1x")
    ]
    step = lambda: serving.hood.nms_png(raw, serving.hood.nms(raw, 0.25, 0.7), 2, model.names)  # noqa: E731
    step()
    run = detection.run_nms(raw, 0.25, 0.7)

    def draw() -> bytes:
        return serving.encoded(raw, ("bench", next(_fresh)), lambda: detection.nms_picture(raw, run, 2, model.names))

    ours, peer = median_seconds(step, repeat=50), median_seconds(draw, repeat=9)
    out.append(
        Row("NMS step picture, 640 px, step 2 of 5", ours * 1000, "drawn and encoded again", peer * 1000, "<< 1x")
    )
    return out


if __name__ == "__main__":
    print(table(rows()))
    print(f"\nshared picture cache: {PICTURES.stats()}")
    print(f"YOLO inside: {serving.HOOD.stats()}; Grad-CAM extras: {serving.EXTRAS.stats()}")
