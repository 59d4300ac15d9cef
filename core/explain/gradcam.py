"""Grad-CAM: where a CNN looks when it decides, for any class at any convolutional layer.

:class:`GradCAM` is an :class:`~core.explain.attributor.Attributor` like the Captum methods, but
our own implementation: one forward and one backward pass give the maps of the top-k classes
(and of several layers), where Captum's ``LayerGradCam`` and torch-cam run the backbone once per
class. The maps equal Captum's ``LayerGradCam`` with ``relu_attributions=True`` upsampled
bilinearly, and pytorch-grad-cam's ``GradCAM`` (tested).

Hooks follow :mod:`core.util.hooks`: they are removed in ``__exit__``, run only for the thread that
added them (other sessions may run the shared model meanwhile), and are added only while
``LoadedModel.lock`` is held.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from core.explain.attributor import Attributor, Cost
from core.explain.target_layers import layer_choices
from core.models.loading import LoadedModel
from core.util.hooks import resolve_layer
from core.viz.render import normalize


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


class GradCAM(Attributor):
    """Grad-CAM bound to a model and a layer (and optionally more layers), batched over classes.

    Ours rather than Captum's ``LayerGradCam`` or torch-cam's ``GradCAM``: those run the backbone
    once per class, this runs it once for the top-k classes (and every layer of the depth view):
    each chosen layer's output is replaced by a tensor that requires grad, expanded to one row
    per class, so ``torch.autograd.grad`` walks back from the class scores to those layers only,
    never to the input or the weights. The maps equal Captum's (tested).

    The forward hooks are added in ``__enter__`` (under ``lock``), removed in ``__exit__``, and
    record only the forward pass that ``.attribute`` runs on the thread that entered.
    """

    def __init__(
        self,
        module: nn.Module,
        layer: str | nn.Module,
        *,
        lock: threading.RLock | None = None,
        more_layers: Sequence[str | nn.Module] = (),
    ) -> None:
        super().__init__(module, layer, lock=lock)
        self.layers = dict([(self.layer_name, self.layer), *(resolve_layer(module, m) for m in more_layers)])
        self._acts: dict[str, torch.Tensor] = {}
        self._count = 0  # rows per recorded layer while a pass runs; 0: not recording
        self._owner = -1

    def _add_hooks(self, stack: contextlib.ExitStack) -> None:
        self._owner = threading.get_ident()
        for name, sub in self.layers.items():
            stack.callback(sub.register_forward_hook(functools.partial(self._record, name)).remove)

    def _record(self, name: str, _module: nn.Module, _inputs, output):
        """Forward hook: ``name``'s output as a tensor requiring grad, one row per target."""
        if not self._count or threading.get_ident() != self._owner:  # another session's pass on the shared model
            return None
        if name in self._acts:
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
        if act.shape[0] == 1 and self._count > 1:
            act = act.expand(self._count, -1, -1, -1)
        self._acts[name] = act
        return act.clone()  # later in-place ops (ReLU(inplace=True)) must not touch the recorded tensor

    def layer_maps(self, inputs: torch.Tensor, targets: Sequence[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Grad-CAM of every target at every layer, at each layer's own resolution, in one pass.

        Args:
            inputs: ``(1, C, H, W)`` (shared by all targets) or ``(len(targets), C, H, W)``.
            targets: class indices, one map each.

        Returns:
            ``({layer name: (N, h, w) maps >= 0}, logits (N, classes))``, detached.

        Raises:
            ValueError: unsuitable layer, bad input shape, target out of range.
        """
        if self._stack is None:
            with self:
                return self.layer_maps(inputs, targets)
        targets = _check_targets(targets)
        _check_batch(inputs, len(targets))
        self._acts.clear()
        try:
            with torch.inference_mode(False), torch.enable_grad():
                self.module.eval()
                self._count = len(targets)
                try:
                    logits = self.module(inputs)
                finally:
                    self._count = 0
                grads = self._gradients(logits, targets)
            return {
                name: F.relu((grad.mean(dim=(2, 3), keepdim=True) * self._acts[name]).sum(dim=1)).detach()
                for name, grad in zip(self.layers, grads, strict=True)
            }, logits.detach()
        finally:
            self._acts.clear()

    def _gradients(self, logits: torch.Tensor, targets: list[int]) -> tuple[torch.Tensor, ...]:
        if missing := [name for name in self.layers if name not in self._acts]:
            raise ValueError(f"layer(s) {', '.join(missing)} did not run in the forward pass; choose another layer.")
        if not isinstance(logits, torch.Tensor) or logits.ndim != 2 or logits.shape[0] != len(targets):
            raise ValueError("the model must return class scores of shape (batch, classes) for Grad-CAM.")
        if max(targets) >= logits.shape[1]:
            raise ValueError(f"target {max(targets)} is out of range: the model has {logits.shape[1]} classes.")
        rows = torch.arange(len(targets), device=logits.device)
        scores = logits[rows, torch.tensor(targets, device=logits.device)]
        return torch.autograd.grad(scores.sum(), [self._acts[name] for name in self.layers])

    def _attribute(self, inputs: torch.Tensor, target: int | list[int]) -> np.ndarray:
        targets = list(target) if isinstance(target, Sequence) else [target] * len(inputs)
        cams, _ = self.layer_maps(inputs, targets)
        return _upsample(cams[self.layer_name], tuple(inputs.shape[-2:]))

    def cost(self, size: tuple[int, int]) -> Cost:
        """One forward and one backward pass, whatever the number of classes and layers."""
        return Cost(1, 1, 1)


def layer_cams(
    module: nn.Module,
    batch: torch.Tensor,
    targets: Sequence[int],
    layers: Sequence[str | nn.Module],
    lock: threading.RLock | None = None,
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """:meth:`GradCAM.layer_maps` of ``targets`` at ``layers`` (the first layer and the rest) in one pass."""
    if not layers:
        raise ValueError("layers must name one or more layers for Grad-CAM.")
    with GradCAM(module, layers[0], lock=lock, more_layers=layers[1:]) as cam:
        return cam.layer_maps(batch, targets)


def bilinear(cams: torch.Tensor | np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps to (N, H, W) float32, upsampled bilinearly (as in the Grad-CAM paper), values kept."""
    cams = torch.as_tensor(cams)
    return F.interpolate(cams[:, None].float(), size=size, mode="bilinear", align_corners=False)[:, 0].cpu().numpy()


def _upsample(cams: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """(N, h, w) maps to (N, H, W) float32, bilinear, each scaled to [0, 1]."""
    return normalize(bilinear(cams, size), axis=(1, 2))


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
        layer: a layer name or submodule with a 4-D output (see :func:`~core.explain.target_layers.default_layer`).
        lock: held while hooks are on ``module`` (``LoadedModel.lock`` for a shared model).

    Returns:
        float32 maps of shape ``(len(targets), H, W)``, each scaled to [0, 1] (all zeros when the
        class has no positive evidence at that layer).
    """
    return GradCAM(module, layer, lock=lock).attribute(batch, list(targets))


@dataclass(frozen=True)
class LayerMaps:
    """Grad-CAM maps of every target at one layer."""

    layer: str
    maps: np.ndarray  # (targets, H, W) float32 in [0, 1], at the input's resolution
    coarse: np.ndarray  # (targets, h, w) float32 in [0, 1], at the layer's own resolution
    values: np.ndarray  # (targets, h, w) float32 >= 0: the maps before any scaling (for a shared colour scale)


@dataclass(frozen=True)
class GradCamResult:
    """Grad-CAM of one image for some classes at some layers, from one forward/backward pass."""

    targets: tuple[int, ...]
    labels: tuple[str, ...]
    probabilities: tuple[float, ...]  # softmax probability of each target
    layers: tuple[LayerMaps, ...]


def grad_cams(
    model: LoadedModel, image: Image.Image, targets: Sequence[int], layers: Sequence[str] | None = None
) -> GradCamResult:
    """Grad-CAM of ``image`` for ``targets`` at ``layers`` (default: the last conv block), in one pass."""
    batch = model.to_input(image)
    cams, logits = layer_cams(model.module, batch, targets, layers or [layer_choices(model.key).default], model.lock)
    return gradcam_result(model, batch, targets, cams, logits)


def gradcam_result(
    model: LoadedModel, batch: torch.Tensor, targets: Sequence[int], cams: dict[str, torch.Tensor], logits: torch.Tensor
) -> GradCamResult:
    """The :class:`GradCamResult` of one image from :func:`layer_cams`' maps and logits (one row per target)."""
    targets = tuple(int(t) for t in targets)
    probabilities = torch.softmax(logits.float().cpu(), dim=1)[torch.arange(len(targets)), list(targets)]
    return GradCamResult(
        targets=targets,
        labels=tuple(model.label(t) for t in targets),
        probabilities=tuple(float(p) for p in probabilities),
        layers=tuple(
            LayerMaps(
                name,
                _upsample(cam, tuple(batch.shape[-2:])),
                normalize(cam.cpu().numpy(), axis=(1, 2)),
                cam.float().cpu().numpy(),
            )
            for name, cam in cams.items()
        ),
    )
