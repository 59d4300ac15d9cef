"""The Grad-CAM page's other shared results: the crop the model sees, the sanity check and the pass timing.

Keyed by (model, weights, device, image digest, method, class, layer, settings) in one bounded
:class:`SharedCache`, like the maps themselves (:mod:`core.serving.inference`): a sanity check
that thirty students start on the same photo randomises the weights once, and the warm pass that
prices the attribution methods is timed once per model and input size.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from PIL import Image

from core.config import limits
from core.features.capture import image_digest
from core.models import LoadedModel
from core.serving.inference import model_id
from core.util.shared_cache import SharedCache

if TYPE_CHECKING:
    from core import explain


def _explain():
    """:mod:`core.explain`, imported on first use: it imports Captum (a second), which the first page does not need."""
    return importlib.import_module("core.explain")


EXTRAS = SharedCache("Grad-CAM views, sanity checks, timings", 512, limits.SHARED_RESULT_BYTES // 8)


def model_view(model: LoadedModel, image: Image.Image) -> Image.Image:
    """:func:`core.explain.model_view` (the crop maps are drawn over), shared: never modify it."""
    return EXTRAS.get(("view", model_id(model), image_digest(image)), lambda: _explain().model_view(model, image))


def sanity_check(
    model: LoadedModel, image: Image.Image, method: str, target: int, layer: str, max_steps: int = 6
) -> explain.SanityCheck:
    """:func:`core.explain.cascading_randomization` (seed 0), once per model, image, method, class and layer."""
    key = ("sanity", model_id(model), image_digest(image), method, int(target), layer, int(max_steps))
    return EXTRAS.get(
        key, lambda: _explain().cascading_randomization(model, image, method, target, layer, max_steps=max_steps)
    )


def pass_times(model: LoadedModel, size: tuple[int, int]) -> explain.PassTimes:
    """:func:`core.explain.measure_passes` for inputs of ``size`` = (H, W), timed once per model and size."""
    size = (int(size[0]), int(size[1]))
    return EXTRAS.get(("pass times", model_id(model), size), lambda: _explain().measure_passes(model, size))
