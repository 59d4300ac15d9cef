"""Micro-batching gain: 32 concurrent requests (one thread each, as Streamlit sessions are) at batch 1, 8, 32.

Run: ``.venv/bin/python -m bench.batching [model ...]`` (default ``resnet18`` with random weights and the
classroom model). Every request is a different image, so no result is shared: only batching helps.
Prints requests per second for classification and for Grad-CAM (forward + backward) beside batch 1,
measured in the same run, rounds interleaved. On a GPU the same command measures the GPU.

``python -m bench.batching --serve [model]`` measures instead what a Ray Serve batch runs
(:mod:`core.serving.batched`): 8 feature-map captures, 8 Grad-CAM attributions and 8 YOLO
detections (the shared YOLOv8n, 8 images of one size) as one batch, against the same 8 one at a time.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

import torch

from bench.common import Row, table
from bench.serve import ROOT
from core.explain.gradcam import layer_choices
from core.explain.methods import Options
from core.models import get_model
from core.serving import inference as serving
from core.util.batching import MicroBatcher

REQUESTS = 32
BATCHES = (1, 8, 32)


def _requests_per_second(run, requests: list[tuple], group: tuple, batch: int) -> float:
    os.environ["CONVLENS_BATCH_MAX"] = str(batch)
    os.environ["CONVLENS_BATCH_WAIT_MS"] = "5"
    batcher, barrier = MicroBatcher(run), threading.Barrier(len(requests) + 1)

    def worker(request: tuple) -> None:
        barrier.wait()
        batcher.submit(group, request)

    threads = [threading.Thread(target=worker, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return len(requests) / (time.perf_counter() - start)


def rows(keys: list[str] | None = None, rounds: int = 3) -> list[Row]:
    out = []
    for key in keys or ["resnet18", "tiny_vgg"]:
        model = get_model(key, pretrained=key == "tiny_vgg")
        size = model.card.crop_size
        generator = torch.Generator().manual_seed(0)
        inputs = [torch.rand(1, 3, size, size, generator=generator).to(model.device) for _ in range(REQUESTS)]
        layers, classes = (layer_choices(key).default,), max(1, len(model.categories))
        kinds = {
            "classify": (serving.classify_batch, [(model, x, 5) for x in inputs]),
            "Grad-CAM": (serving.explain_batch, [(model, x, (i % classes,), layers) for i, x in enumerate(inputs)]),
        }
        for kind, (run, requests) in kinds.items():
            _requests_per_second(run, requests[:4], (key, kind), 4)  # warm-up
            seen: dict[int, list[float]] = {b: [] for b in BATCHES}
            for _ in range(rounds):  # interleaved: a load spike on this shared machine hits every batch size
                for batch in BATCHES:
                    seen[batch].append(_requests_per_second(run, requests, (key, kind), batch))
            base = statistics.median(seen[1])
            for batch in BATCHES[1:]:
                what = f"{model.card.label} {kind}, {REQUESTS} concurrent requests, batch {batch}"
                out.append(Row(what, statistics.median(seen[batch]), "batch 1", base, "> 1x", unit="req/s"))
    return out


def _per_second(run, items: list, batch: int) -> float:
    start = time.perf_counter()
    for i in range(0, len(items), batch):
        run(items[i : i + batch])
    return len(items) / (time.perf_counter() - start)


def _serve_work(key: str) -> dict[str, tuple]:
    """What one Ray Serve batch runs, per kind: (batched function, 8 prepared requests)."""
    from PIL import Image

    from core.detection import yolo
    from core.io.assets import sample_images
    from core.io.images import load_image
    from core.serving import batched

    model = get_model(key, pretrained=key == "tiny_vgg")
    size = model.card.crop_size
    generator = torch.Generator().manual_seed(0)
    images = [Image.fromarray((torch.rand(size, size, 3, generator=generator) * 255).byte().numpy()) for _ in range(8)]
    layer, classes = layer_choices(key).default, max(1, len(model.categories))
    work = {
        "capture": (batched.capture_batch, [batched.capture_item(model, image, None) for image in images]),
        "Grad-CAM attribution": (
            batched.attribute_batch,
            [
                batched.attribution_item(model, im, "grad_cam", i % classes, layer, Options())
                for i, im in enumerate(images)
            ],
        ),
    }
    weights = ROOT.parent / "shared" / "weights" / "yolov8n_int8_openvino_model"  # ../shared, when here
    if weights.is_dir():
        detector = yolo.load_model(weights, label="yolov8n")
        photos = [load_image(p).resize((640, 480)) for p in sample_images().values()]
        work["YOLO detection"] = (batched.detect_batch, [(detector, [photos[i % len(photos)]]) for i in range(8)])
    else:
        print(f"no {weights}: YOLO detection not measured", file=sys.stderr)
    return work


def serve_rows(key: str = "resnet18", rounds: int = 3) -> list[Row]:
    """Batch 8 against one at a time, through the functions a Ray Serve batch calls."""
    out = []
    for kind, (run, items) in _serve_work(key).items():
        run(items[:2])  # warm-up
        seen: dict[int, list[float]] = {1: [], 8: []}
        for _ in range(rounds):
            for batch in (1, 8):
                seen[batch].append(_per_second(run, items, batch))
        what = f"{'YOLOv8n INT8' if kind == 'YOLO detection' else key} {kind}, 8 requests in one Ray Serve batch"
        out.append(Row(what, statistics.median(seen[8]), "one at a time", statistics.median(seen[1]), "> 1x", "req/s"))
    return out


if __name__ == "__main__":
    print(f"torch threads: {torch.get_num_threads()}", file=sys.stderr)
    args = sys.argv[1:]
    if args[:1] == ["--serve"]:
        print(table(serve_rows(*args[1:2])))
    else:
        print(table(rows(args or None)))
