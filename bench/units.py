"""What units learned: the dataset-examples pass against a plain forward, and feature visualisation's time.

Showing a channel runs its top 9 images again up to the layer (to find where each maximum is):
timed at the last conv, the worst case, against a whole forward of the 9.

Run: ``.venv/bin/python -m bench.units`` (``--quick`` for fewer images and steps). The pass and
its peer, a plain forward of the same model over the same decoded batches, are timed once per
round in a rotating order (medians), in wall time and in CPU time of this process on one thread.
Feature visualisation is timed per step at 128 and 224 px on a torchvision model with random
weights and on the classroom Tiny VGG (a channel, and a class drawn as one object), beside one
plain forward and backward at the same size (the least a step can cost); the table gives seconds
for 128 and 512 steps. On a GPU when there is one.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import torch

from bench.common import Row, table
from bench.features import _cpu_rounds, _rounds
from core.config.device import default_device, inference
from core.datasets.image_sets import image_sources, load_image_set
from core.datasets.tensors import Preprocess
from core.features import feature_vis as fvis
from core.features.dataset_examples import BATCH, pass_view, record_maxima
from core.features.unit_location import channel_argmax
from core.models.loading import get_model
from core.util.hooks import conv_layers

PASS_MODELS = (
    ("tiny_vgg", True, 64),
    ("resnet18", False, 128),
    ("mobilenet_v3_small", False, 128),
    ("efficientnet_lite0", True, 128),
)
# model, pretrained, layer (None: a class), channel or class, style
VIS_MODELS = (
    ("resnet18", False, "layer3.0.conv2", 7, "texture"),
    ("tiny_vgg", True, "features.conv_3_3", 7, "texture"),
    ("tiny_vgg", True, None, 3, "shape"),  # the class star, as one object
)


def _batches(model, size: int, count: int) -> list[torch.Tensor]:
    """The classroom shapes (or the first ``count`` of them) decoded once into model inputs."""
    images = load_image_set(image_sources()[1])
    preprocess = Preprocess.for_model(model.transforms, size)
    samples = images.samples[:: max(1, len(images.samples) // count)][:count]
    decoded = torch.stack([preprocess.decode(s.path) for s in samples])
    return [preprocess.batch(decoded[i : i + BATCH]).to(model.device) for i in range(0, len(decoded), BATCH)]


def pass_rows(count: int, rounds: int) -> list[Row]:
    rows = []
    for key, pretrained, size in PASS_MODELS:
        model = get_model(key, pretrained=pretrained, device=default_device())
        batches = _batches(model, size, count)
        total = sum(len(b) for b in batches)

        def plain(model=model, batches=batches) -> None:
            with inference(model.device):
                for batch in batches:
                    model.module(batch)

        def ours(model=model, batches=batches, total=total) -> None:
            with pass_view(model) as view:  # what dataset_maxima does
                record_maxima(view, batches, total)

        runs = {"ours": ours, "peer": plain}
        what = f"dataset-examples pass, {model.card.label}, {total} images at {size} px, {model.device.type}"
        wall = _rounds(runs, rounds)
        rows.append(Row(what, wall["ours"], "plain forward", wall["peer"], "<= 1.3x"))
        if model.device.type == "cpu":
            cpu = _cpu_rounds(runs, rounds)
            rows.append(Row(f"{what} (CPU, 1 thread)", cpu["ours"], "plain forward", cpu["peer"], "<= 1.3x", "ms CPU"))
        rows.append(_locate_row(model, batches[0][:9], rounds))
    return rows


def _locate_row(model, nine: torch.Tensor, rounds: int) -> Row:
    """Showing a channel: its 9 images run again to the deepest conv (the worst case), against their forward."""
    layer = conv_layers(model.module)[-1][0]
    with pass_view(model) as view:
        wall = _rounds(
            {"ours": lambda: channel_argmax(view, nine, layer, 0), "peer": lambda: _forward_of(model, nine)}, rounds
        )
    what = f"locate a channel's top 9 in {layer} (last conv), {model.card.label}, {model.device.type}"
    return Row(what, wall["ours"], "forward of the 9", wall["peer"], "<= 1.2x")


def _forward_of(model, batch: torch.Tensor) -> None:
    with inference(model.device):
        model.module(batch)


def _step_peer(model, size: int) -> float:
    """Milliseconds of one plain forward and backward to the input (median of 5)."""
    times = []
    for _ in range(6):
        x = torch.rand(1, 3, size + 16, size + 16, device=model.device, requires_grad=True)
        start = time.perf_counter()
        model.module(x).sum().backward()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[2] * 1000


def vis_rows(steps: int) -> tuple[list[Row], list[str]]:
    with tempfile.TemporaryDirectory() as home:  # the results are cached on disk: keep them out of the user's
        previous = os.environ.get("CONVLENS_HOME")
        os.environ["CONVLENS_HOME"] = home
        try:
            return _vis_rows(steps)
        finally:
            if previous is None:
                os.environ.pop("CONVLENS_HOME")
            else:
                os.environ["CONVLENS_HOME"] = previous


def _vis_rows(steps: int) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    lines = ["| model | layer, channel | size | s/step | CPU s/step | 128 steps | 512 steps |", "|---" * 7 + "|"]
    for key, pretrained, layer, channel, style in VIS_MODELS:
        model = get_model(key, pretrained=pretrained, device=default_device())
        for size in (128, 224):
            cpu = time.process_time()
            result = fvis.visualise(model, layer, channel, size, steps, style=style)
            per_step, cpu_step = result.seconds / steps, (time.process_time() - cpu) / steps
            target = f"{layer}#{channel}" if layer else f"class {model.categories[channel]} ({style})"
            what = f"feature vis step, {model.card.label} {target}, {size} px, {model.device.type}"
            rows.append(Row(what, per_step * 1000, "forward+backward", _step_peer(model, size), "bounded"))
            lines.append(
                f"| {model.display_name} | {target} | {size} px | {per_step:.3f} | {cpu_step:.3f} | "
                f"{128 * per_step:.0f} s | {512 * per_step:.0f} s |"
            )
    return rows, lines


def rows(quick: bool = False) -> list[Row]:
    return pass_rows(64 if quick else 240, 3 if quick else 5) + vis_rows(8 if quick else 16)[0]


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    found = pass_rows(64 if quick else 240, 3 if quick else 5)
    vis, lines = vis_rows(8 if quick else 16)
    print(table(found + vis))
    print(f"\nFeature visualisation on {torch.get_num_threads()} threads ({default_device()}):\n")
    print("\n".join(lines))
