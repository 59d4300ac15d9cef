"""Many sessions at once on one cached model: every result equals the single-threaded one.

Feature-map capture, Grad-CAM and plain classification run from 8 threads, in a shuffled
order, on the same shared ``LoadedModel``; afterwards no hook is left and the model's state
is untouched.
"""

import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from core.explain.gradcam import explain
from core.features.capture import capture
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.classify import classify
from core.models.loading import get_model
from core.util.hooks import hook_count


def run(model, job: tuple) -> np.ndarray:
    kind, image = job[0], job[1]
    if kind == "maps":
        activations = capture(model, image)
        return np.concatenate([layer.maps.astype(np.float32).ravel() for layer in activations.layers[::4]])
    if kind == "cam":
        return explain(model, image, [job[2]]).layers[0].maps
    return np.array([p.index for p in classify(model, image, k=5).top])


def test_eight_threads_get_the_single_threaded_results() -> None:
    model = get_model("resnet18", pretrained=False)
    images = [load_image(path) for path in sample_images().values()][:4]
    jobs = [("maps", image) for image in images]
    jobs += [("cam", image, target) for image in images for target in (1, 207, 281)]
    jobs += [("classify", image) for image in images]
    expected = [run(model, job) for job in jobs]

    order = list(range(len(jobs))) * 2
    random.Random(0).shuffle(order)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: (i, run(model, jobs[i])), order))

    for i, result in results:
        np.testing.assert_allclose(result, expected[i], rtol=0, atol=1e-6, err_msg=f"job {jobs[i][0]} #{i}")
    assert hook_count(model.module) == 0
    assert not model.module.training and not any(m.training for m in model.module.modules())
    assert not any(p.requires_grad or p.grad is not None for p in model.module.parameters())
    assert model.lock.acquire(blocking=False), "a thread left the model's lock held"
    model.lock.release()
    assert torch.is_grad_enabled()
