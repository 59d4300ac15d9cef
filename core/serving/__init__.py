"""Inference for a lecture hall: what pages call instead of the plain core functions.

Results (classifications, captures, Grad-CAM maps, detections) and the pictures and figures
drawn from them are shared by every session, computed once per key, micro-batched when
requests for one model arrive together, or sent to a Ray Serve engine when
``CONVLENS_SERVE_URL`` is set (``python -m core.serving.app``; needs requirements-serve.txt).
Pages import only this façade: ``from core import serving``.
"""

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
    "GRADCAMS",
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
    "remote_url",
    "token",
    "value",
]
