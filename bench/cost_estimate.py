"""How close the Grad-CAM page's cost estimates are: estimate (warm measured passes) against the real time.

Run: ``.venv/bin/python -m bench.cost_estimate [model]`` (default: resnet18, random weights, CPU, the
sample cat image at the model's crop, default options). For every attribution method it prints the
estimate the page shows (:meth:`core.explain.methods.Cost.estimate` from :func:`core.explain.measure_passes`)
beside the method's warm wall-clock time (median of 3 runs after one warm-up), and their ratio.
The old estimate (one cold forward pass times the number of passes) is printed beside it.
"""

from __future__ import annotations

import sys
import time

import torch
from core.models.classify import classify

from bench.common import Row, median_seconds, table
from core.explain import METHODS, Options, attribute, layer_choices, measure_passes
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.loading import get_model


def rows(key: str = "resnet18") -> list[Row]:
    model = get_model(key, pretrained=False, device=torch.device("cpu"))
    image = load_image(sample_images()["cat"])
    cold = classify(model, image).forward_ms  # what the page used before: one early forward pass
    size = (model.card.crop_size, model.card.crop_size)
    start = time.perf_counter()
    times = measure_passes(model, size)
    measuring = time.perf_counter() - start
    options, layer = Options(), layer_choices(key).default
    out = []
    for method_key, method in METHODS.items():
        cost = method.cost(options, size)
        real = median_seconds(lambda k=method_key: attribute(model, image, k, 0, layer, options), repeat=3)
        out.append(Row(f"{method.label}: estimate", cost.estimate(times), "measured", real, "ratio 0.5-2", "s"))
        out.append(Row(f"{method.label}: old estimate", cost.seconds(cold), "measured", real, "(was)", "s"))
    print(f"measure_passes took {measuring:.1f} s ({times})")
    return out


if __name__ == "__main__":
    print(table(rows(*sys.argv[1:2])))
