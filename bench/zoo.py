"""ResNet-18 classification: our ``classify`` (preprocess, forward, top-5) against a plain forward.

Run: ``.venv/bin/python -m bench.zoo``. Random weights (the timing does not depend on them).
"""

from __future__ import annotations

from statistics import median

import torch

from bench.common import Row, median_seconds, table
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.classification import classify
from core.models.loading import get_model


def rows() -> list[Row]:
    model = get_model("resnet18", pretrained=False)
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
    return [
        Row(
            "ResNet-18 forward pass as timed by classify(), 224 px", median(forward), "plain forward", median(peer), "-"
        ),
        Row("ResNet-18 classify() end to end (decode excluded)", median(ours), "plain forward", median(peer), "-"),
    ]


if __name__ == "__main__":
    print(table(rows()))
