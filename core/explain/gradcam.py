"""Grad-CAM: where a CNN looks when it decides, for any class at any convolutional layer.

One forward pass and one backward pass give the maps of several classes (and several layers):
the output of each chosen layer is replaced by a tensor that requires grad (expanded to one
row per class), so ``torch.autograd.grad`` walks back only from the class scores to those
layers, never to the input or the weights. The maps equal Captum's ``LayerGradCam`` with
``relu_attributions=True`` upsampled bilinearly, and pytorch-grad-cam's ``GradCAM`` (tested).

Hooks follow :mod:`core.util.hooks`: they are removed in ``finally``, run only for the thread that
added them (other sessions may run the shared model meanwhile), and are added only while
``LoadedModel.lock`` is held.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn

from core.models.loading import LoadedModel
from core.models.registry import meta_model, model_card
from core.util.hooks import conv_layers, meta_trace, preserved_state, resolve_layer
from core.viz.render import normalize

DEPTH_PANELS = 6  # at most this many layers in the side-by-side depth view


def _check_targets(targets: Sequence[int]) -> list[int]:
    try:
        checked = [operator.index(t) for t in targets]
    except TypeError:
        raise TypeError(f"targets must be class indices (integers), got {list(targets)!r}.") from None
    if not checked or min(checked) < 0:
        raise ValueError(f"targets must be one or more class indices >= 0, got {checked}.")
    return checked


def _check_batch(batch: torch.Tensor, count: int) -> None:
    if not isinstance(batch, torch.Tensor) or batch.ndim != 4 or batch.shape[0] not in {1, count}:
        shape = tuple(batch.shape) if isinstance(batch, torch.Tensor) else type(batch).__name__
        raise ValueError(
            f"batch must have shape (1, C, H, W) or (len(targets)={count}, C, H, W), got {shape}; "
            "preprocess one image with LoadedModel.to_input."
        )


def _layer_hook(name: str, count: int, acts: dict[str, torch.Tensor], owner: int):
    """A forward hook that records ``name``'s output as a tensor requiring grad, one row per target."""

    def hook(_module: nn.Module, _inputs, output):
        if threading.get_ident() != owner:  # another session's forward pass on the shared model
            return None
        if name in acts:
            raise ValueError(
                f"layer {name!r} runs more than once in one forward pass (the module is reused), so its "
                "output is ambiguous; choose a convolution or the block that contains it."
            )
        if not isinstance(output, torch.Tensor) or output.ndim != 4:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            raise ValueError(
                f"layer {name!r} outputs {shape}; Grad-CAM needs a (batch, channels, height, width) "
                "feature map: choose a convolutional layer or block."
            )
        act = output if output.requires_grad else output.detach().requires_grad_()
        if act.shape[0] == 1 and count > 1:
            act = act.expand(count, -1, -1, -1)
        acts[name] = act
        return act.clone()  # later in-place ops (ReLU(inplace=True)) must not touch the recorded tensor

    return hook


def layer_cams(
    module: nn.Module,
    batch: torch.Tensor,
    targets: Sequence[int],
    layers: Sequence[str | nn.Module],
    lock: threading.RLock | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Grad-CAM of every target at every layer, at each layer's own resolution, in one pass.

    Args:
        module: the classifier; run in eval mode, its state restored afterwards.
        batch: ``(1, C, H, W)`` (shared by all targets) or ``(len(targets), C, H, W)``.
        targets: class indices, one map each.
        layers: layer names or submodules of ``module`` with 4-D outputs.
        lock: held while hooks are on ``module`` (``LoadedModel.lock`` for a shared model).

    Returns:
        ``({layer name: (N, h, w) maps >= 0}, logits (N, classes))``, detached.

    Raises:
        ValueError: unknown or unsuitable layer, bad batch shape, target out of range.
    """
    targets = _check_targets(targets)
    _check_batch(batch, len(targets))
    resolved = dict(resolve_layer(module, layer) for layer in layers)
    acts: dict[str, torch.Tensor] = {}
    owner = threading.get_ident()
    with lock or contextlib.nullcontext(), preserved_state(module), torch.inference_mode(False), torch.enable_grad():
        module.eval()
        handles = []
        try:
            for name, sub in resolved.items():
                handles.append(sub.register_forward_hook(_layer_hook(name, len(targets), acts, owner)))
            logits = module(batch)
        finally:
            for handle in handles:
                handle.remove()
        if missing := [name for name in resolved if name not in acts]:
            raise ValueError(f"layer(s) {', '.join(missing)} did not run in the forward pass; choose another layer.")
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != len(targets):
            raise ValueError("the model must return class scores of shape (batch, classes) for Grad-CAM.")
        if max(targets) >= logits.shape[1]:
            raise ValueError(f"target {max(targets)} is out of range: the model has {logits.shape[1]} classes.")
        scores = logits[torch.arange(len(targets), device=logits.device), torch.tensor(targets, device=logits.device)]
        grads = torch.autograd.grad(scores.sum(), [acts[name] for name in resolved])
    cams = {
        name: F.relu((grad.mean(dim=(2, 3), keepdim=True) * acts[name]).sum(dim=1)).detach()
        for name, grad in zip(resolved, grads, strict=True)
    }
    return cams, logits.detach()


def _upsample(cams: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps to (N, H, W) float32, bilinear (as in the Grad-CAM paper), each scaled to [0, 1]."""
    full = F.interpolate(cams[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0]
    return normalize(full.cpu().numpy(), axis=(1, 2))


def grad_cam(
    module: nn.Module,
    batch: torch.Tensor,
    targets: Sequence[int],
    layer: str | nn.Module,
    lock: threading.RLock | None = None,
) -> np.ndarray:
    """Grad-CAM maps of ``targets`` at ``layer``, from one batched forward and backward pass.

    Channel weights are the spatial mean of the class score's gradient; the map is the ReLU of
    the weighted sum of the layer's channels, upsampled bilinearly to the input.

    Args:
        module: the classifier (eval mode is used; its state is restored afterwards).
        batch: ``(1, 3, H, W)``, expanded to the targets, or ``(len(targets), 3, H, W)``.
        targets: class indices.
        layer: a layer name or submodule with a 4-D output (see :func:`default_layer`).
        lock: held while hooks are on ``module`` (``LoadedModel.lock`` for a shared model).

    Returns:
        float32 maps of shape ``(len(targets), H, W)``, each scaled to [0, 1] (all zeros when the
        class has no positive evidence at that layer).
    """
    cams, _ = layer_cams(module, batch, targets, [layer], lock)
    return _upsample(next(iter(cams.values())), tuple(batch.shape[-2:]))


def _trace(module: nn.Module, size: int, lock: threading.RLock | None) -> list[tuple[str, torch.Tensor]]:
    """``(name, output)`` of every submodule as it finishes, on a weightless ``meta`` copy of ``module``."""
    with lock or contextlib.nullcontext():
        memo = {
            id(p): nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=False) for p in module.parameters()
        }
        memo.update({id(b): torch.empty_like(b, device="meta") for b in module.buffers()})
        skeleton = copy.deepcopy(module, memo)
    return [(name, output) for name, _sub, output in meta_trace(skeleton, size)]


def _pick_default(records: list[tuple[str, torch.Tensor]], conv_names: list[str]) -> str:
    holders = {name.rsplit(".", depth)[0] for name in conv_names for depth in range(name.count(".") + 1)}
    maps = [(name, out) for name, out in records if out.ndim == 4 and out.shape[-2] * out.shape[-1] > 1]
    if blocks := [(name, out) for name, out in maps if name in holders]:
        final = blocks[-1][1]  # the last feature map a convolutional block produces...
        return next(name for name, out in blocks if out is final)  # ...named by the innermost such block
    if fallback := maps or [(name, out) for name, out in records if out.ndim == 4]:
        return fallback[-1][0]
    raise ValueError("the model has no layer with a 4-D (batch, channels, height, width) output for Grad-CAM.")


def default_layer(module: nn.Module, *, size: int = 224, lock: threading.RLock | None = None) -> str:
    """The layer Grad-CAM uses by default: the last convolutional block.

    That is the innermost module containing a ``Conv2d`` that produces the network's last
    feature map larger than 1x1 (``layer4.1`` for ResNet-18, ``features`` for VGG). A model
    without convolutions falls back to the last module with a 4-D output. Traced on a
    weightless ``meta`` copy, so nothing runs on the real model.

    Args:
        module: the classifier.
        size: side of the square input to trace with.
        lock: held while ``module`` is copied (``LoadedModel.lock`` for a shared model).
    """
    return _pick_default(_trace(module, size, lock), [name for name, _ in conv_layers(module)])


@dataclass(frozen=True)
class LayerChoices:
    """The layers offered for Grad-CAM on one zoo model, with their output shapes."""

    default: str
    convs: tuple[str, ...]  # every Conv2d, in forward order
    shapes: dict[str, tuple[int, ...]]  # (channels, height, width) of the default and of each conv
    depth: tuple[str, ...]  # shallow to deep, one layer per map resolution, ending with the default


def _depth_layers(convs: list[str], shapes: dict[str, tuple[int, ...]], default: str) -> tuple[str, ...]:
    last_at: dict[tuple[int, ...], str] = {}
    for name in convs:
        if shapes[name][1] * shapes[name][2] > 1:
            last_at[shapes[name][1:]] = name
    last_at[shapes[default][1:]] = default
    layers = list(last_at.values())
    keep = np.linspace(0, len(layers) - 1, min(len(layers), DEPTH_PANELS)).round().astype(int)
    return tuple(layers[i] for i in sorted(set(keep)))


@functools.lru_cache(maxsize=32)
def layer_choices(key: str) -> LayerChoices:
    """Default layer, conv layers and depth-view layers of zoo model ``key`` (traced once, without weights)."""
    skeleton = meta_model(key)
    records = _trace(skeleton, model_card(key).crop_size, None)
    conv_names = [name for name, _ in conv_layers(skeleton)]
    default = _pick_default(records, conv_names)
    first = dict(reversed(records))  # each layer's first output
    convs = list(dict.fromkeys(name for name, _ in records if name in set(conv_names)))
    shapes = {name: tuple(first[name].shape[1:]) for name in [default, *convs]}
    return LayerChoices(default, tuple(convs), shapes, _depth_layers(convs, shapes, default))


def model_view(model: LoadedModel, image: Image.Image) -> Image.Image:
    """``image`` resized and cropped as ``model``'s preprocessing does, for drawing maps over it."""
    height, width = model.to_input(image).shape[-2:]
    prep = model.transforms
    resize, crop = getattr(prep, "resize_size", None), getattr(prep, "crop_size", None)
    if resize and crop:  # torchvision's ImageClassification preset
        image = TF.center_crop(TF.resize(image, resize, interpolation=prep.interpolation, antialias=True), crop)
    return image if image.size == (width, height) else image.resize((width, height), Image.BILINEAR)


@dataclass(frozen=True)
class LayerMaps:
    """Grad-CAM maps of every target at one layer."""

    layer: str
    maps: np.ndarray  # (targets, H, W) float32 in [0, 1], at the input's resolution
    coarse: np.ndarray  # (targets, h, w) float32 in [0, 1], at the layer's own resolution


@dataclass(frozen=True)
class GradCam:
    """Grad-CAM of one image for some classes at some layers, from one forward/backward pass."""

    targets: tuple[int, ...]
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]  # softmax probability of each target
    layers: tuple[LayerMaps, ...]


def explain(
    model: LoadedModel, image: Image.Image, targets: Sequence[int], layers: Sequence[str] | None = None
) -> GradCam:
    """Grad-CAM of ``image`` for ``targets`` at ``layers`` (default: the last conv block), in one pass."""
    batch = model.to_input(image)
    cams, logits = layer_cams(model.module, batch, targets, layers or [layer_choices(model.key).default], model.lock)
    return gradcam_result(model, batch, targets, cams, logits)


def gradcam_result(
    model: LoadedModel, batch: torch.Tensor, targets: Sequence[int], cams: dict[str, torch.Tensor], logits: torch.Tensor
) -> GradCam:
    """The :class:`GradCam` of one image from :func:`layer_cams`' maps and logits (one row per target)."""
    targets = tuple(int(t) for t in targets)
    probabilities = torch.softmax(logits.float().cpu(), dim=1)[torch.arange(len(targets)), list(targets)]
    return GradCam(
        targets=targets,
        labels=tuple(model.label(t) for t in targets),
        probabilities=tuple(float(p) for p in probabilities),
        layers=tuple(
            LayerMaps(name, _upsample(cam, tuple(batch.shape[-2:])), normalize(cam.cpu().numpy(), axis=(1, 2)))
            for name, cam in cams.items()
        ),
    )
