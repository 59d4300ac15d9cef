"""Classification: our ``classify`` (preprocess, forward, top-5) against a plain forward.

Run: ``.venv/bin/python -m bench.zoo [model ...]`` (default: resnet18 and efficientnet_lite0).
A model whose pretrained weights are on this machine runs with them (EfficientNet-Lite0's
install with ConvLens), others with random weights (the timing does not depend on them).
"""

from __future__ import annotations

import sys
from statistics import median

import torch

from bench.common import Row, median_seconds, table
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.classify import classify
from core.models.loading import get_model
from core.models.registry import model_card
from core.models.weights import locate


def rows(key: str = "resnet18") -> list[Row]:
    model = get_model(key, pretrained=locate(model_card(key)).available)
    image = load_image(sample_images()["cat"])
    batch = model.to_input(image)

    def plain() -> None:
        with torch.inference_mode():
            model.module(batch)

    forward, ours, peer = [], [], []
    for _ in range(15):  # interleaved rounds: a load spike on this shared machine hits both sides
        peer.append(median_seconds(plain, repeat=1, warmup=0) * 1000)
        ours.append(
            median_seconds(lambda: forward.append(classify(model, image).forward_ms), repeat=1, warmup=0) * 1000
        )
    top = classify(model, image, k=3).top
    name = model.display_name
    return [
        Row(f"{name} forward pass as timed by classify(), 224 px", median(forward), "plain forward", median(peer), "-"),
        Row(f"{name} classify() end to end (decode excluded)", median(ours), "plain forward", median(peer), "-"),
        Row(
            f"{name} top-3 on the cat: " + ", ".join(f"{p.label} {p.probability:.0%}" for p in top),
            median(ours),
            "plain forward",
            median(peer),
            "-",
        ),
    ]


if __name__ == "__main__":
    print(table([row for key in (sys.argv[1:] or ["resnet18", "efficientnet_lite0"]) for row in rows(key)]))
