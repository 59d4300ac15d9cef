"""Micro-batching gain: 32 concurrent requests (one thread each, as Streamlit sessions are) at batch 1, 8, 32.

Run: ``.venv/bin/python -m bench.batching [model ...]`` (default ``resnet18`` with random weights and the
classroom model). Every request is a different image, so no result is shared: only batching helps.
Prints requests per second for classification and for Grad-CAM (forward + backward) beside batch 1,
measured in the same run, rounds interleaved. On a GPU the same command measures the GPU.
"""

from __future__ import annotations

import os
import statistics
import sys
import threading
import time

import torch

from bench.common import Row, table
from core.explain.gradcam import layer_choices
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


if __name__ == "__main__":
    print(f"torch threads: {torch.get_num_threads()}", file=sys.stderr)
    print(table(rows(sys.argv[1:] or None)))
