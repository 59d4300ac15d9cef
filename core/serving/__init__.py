"""Inference for a lecture hall: what pages call instead of the plain core functions.

Results (classifications, captures, Grad-CAM maps, detections) and the pictures and figures
drawn from them are shared by every session, computed once per key, micro-batched when
requests for one model arrive together, or sent to a Ray Serve engine when
``CONVLENS_SERVE_URL`` is set (``python -m core.serving.app``; needs requirements-serve.txt).
YOLO's "Under the hood" goes through :mod:`core.serving.hood` (``serving.hood.raw_output``...).
Pages import only this façade: ``from core import serving``.
"""

from core.serving import hood
from core.serving.gradcam_extras import EXTRAS, model_view, pass_times, sanity_check
from core.serving.hood import HOOD
from core.serving.inference import (
    ATTRIBUTIONS,
    CLASSIFICATIONS,
    GRADCAMS,
    SERVE_ENV,
    activations,
    attribute,
    classify,
    detect,
    explain,
    freeze_startup_objects,
    remote_url,
)
from core.serving.pictures import digest, encoded, token, value
from core.util.shared_cache import all_stats

__all__ = [
    "ATTRIBUTIONS",
    "CLASSIFICATIONS",
    "EXTRAS",
    "GRADCAMS",
    "HOOD",
    "SERVE_ENV",
    "activations",
    "all_stats",
    "attribute",
    "classify",
    "detect",
    "digest",
    "encoded",
    "explain",
    "freeze_startup_objects",
    "hood",
    "model_view",
    "pass_times",
    "remote_url",
    "sanity_check",
    "token",
    "value",
]
