"""Grad-CAM speed: ours against pytorch-grad-cam's GradCAM, and the top-3 in one pass against one class.

Run: ``.venv/bin/python -m bench.gradcam [model ...]`` (default: resnet18 and efficientnet_lite0)
at 224x224 on the CPU, the sample cat image, the model's default (last spatial) layer. Pretrained
weights when they are on this machine (EfficientNet-Lite0's always are), else seeded random ones:
speed does not depend on their values.
Every round times each contender once, in a rotating order, so that load from other
processes on a shared machine hits them all alike; the figures are medians over the rounds.
On a busy machine, ``OMP_NUM_THREADS=1`` keeps torch's threads from stalling each other.
"""

from __future__ import annotations

import copy
import statistics
import sys

import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from bench.common import Row, median_seconds, table
from core.explain.gradcam import grad_cam, layer_choices
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.loading import get_model
from core.models.registry import model_card
from core.models.weights import locate
from core.util.hooks import resolve_layer

ROUNDS = 30


def rows(key: str = "resnet18") -> list[Row]:
    """Our Grad-CAM beside pytorch-grad-cam's, and the batched top-3 beside one class, in ms."""
    model = get_model(key, pretrained=locate(model_card(key)).available, device=torch.device("cpu"))
    batch = model.to_input(load_image(sample_images()["cat"]))
    layer = layer_choices(key).default
    with torch.inference_mode():
        top = model.module(batch)[0].topk(3).indices.tolist()

    frozen = copy.deepcopy(model.module)  # same weights, frozen like ours; the peer's hooks stay off ours
    trainable = copy.deepcopy(model.module).requires_grad_(True)  # the peer's usual setup
    peer_input = batch.clone().requires_grad_()  # with frozen weights the peer needs an input gradient
    targets = [ClassifierOutputTarget(top[0])]
    runs = {
        "ours": lambda: grad_cam(model.module, batch, top[:1], layer, model.lock),
        "top3": lambda: grad_cam(model.module, batch, top, layer, model.lock),
        "three calls": lambda: [grad_cam(model.module, batch, [t], layer, model.lock) for t in top],
    }
    times: dict[str, list[float]] = {name: [] for name in [*runs, "peer frozen", "peer trainable"]}
    with (
        GradCAM(model=frozen, target_layers=[resolve_layer(frozen, layer)[1]]) as peer_frozen,
        GradCAM(model=trainable, target_layers=[resolve_layer(trainable, layer)[1]]) as peer_trainable,
    ):
        runs["peer frozen"] = lambda: peer_frozen(input_tensor=peer_input, targets=targets)
        runs["peer trainable"] = lambda: peer_trainable(input_tensor=batch, targets=targets)
        for run in runs.values():
            run()  # warm-up
        names = list(runs)
        for round_ in range(ROUNDS):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                times[name].append(median_seconds(runs[name], repeat=1, warmup=0) * 1000)
    ms = {name: statistics.median(values) for name, values in times.items()}
    what = f"Grad-CAM, {model.display_name}, {layer}, 224 px, CPU, 1 class"
    return [
        Row(what, ms["ours"], "pytorch-grad-cam GradCAM, same frozen model", ms["peer frozen"], "<= 0.5x"),
        Row(what, ms["ours"], "pytorch-grad-cam GradCAM, weights require grad", ms["peer trainable"], "<= 0.5x"),
        Row(f"{model.card.label}: Grad-CAM of the top-3, one pass", ms["top3"], "ours, 1 class", ms["ours"], "<= 1.5x"),
        Row(
            f"{model.card.label}: Grad-CAM of the top-3, one pass",
            ms["top3"],
            "ours, 3 separate calls",
            ms["three calls"],
            "< 1x",
        ),
    ]


if __name__ == "__main__":
    print(table([row for key in (sys.argv[1:] or ["resnet18", "efficientnet_lite0"]) for row in rows(key)]))
