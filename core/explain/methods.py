"""The attribution methods the page offers (Grad-CAM and Captum's), each with its cost known before it runs.

Every method is an :class:`~core.explain.attributor.Attributor` bound to a model and a layer that
turns (image, class) into a [0, 1] heatmap at the input's resolution. Grad-CAM is ours
(:class:`core.explain.gradcam.GradCAM`); the others call Captum. Guided Grad-CAM hooks every
``nn.ReLU``, so it runs on a private view of the model (:func:`core.models.loading.private_view`)
where those hooks cannot reach other sessions; Saliency, Integrated Gradients and Occlusion
add no hooks and only read the shared model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.explain.attributor import Attributor, Cost
from core.explain.captum_methods import (
    CaptumMethod,
    GuidedGradCAM,
    IntegratedGradients,
    Occlusion,
    Options,
    Saliency,
)
from core.explain.gradcam import GradCAM, GradCamResult
from core.models.loading import LoadedModel, private_view

DEFAULT_OPTIONS = Options()


@dataclass(frozen=True)
class Method:
    """One attribution method as the page lists it: what it shows, and the class that runs it."""

    key: str
    label: str
    idea: str  # one sentence for the page
    expensive: bool  # run only behind a button
    isolated: bool  # adds hooks that other sessions would trip on: run on a private view
    kind: type[GradCAM] | type[CaptumMethod]

    @property
    def settings(self) -> tuple[str, ...]:
        """The fields of :class:`Options` it uses."""
        return () if self.kind is GradCAM else self.kind.settings

    def cost(self, options: Options, size: tuple[int, int]) -> Cost:
        """What one map costs with ``options`` on an input of ``size`` = (H, W)."""
        return Cost(1, 1, 1) if self.kind is GradCAM else self.kind.cost_of(options, size)

    def bind(
        self, module: nn.Module, layer: str | nn.Module, options: Options, lock: threading.RLock | None = None
    ) -> Attributor:
        """The method bound to ``module`` and ``layer``.

        Only Grad-CAM hooks the module it is given, so only it takes ``lock``: the Captum methods
        read a shared model without hooks (Guided Grad-CAM must be given a private view).
        """
        if self.kind is GradCAM:
            return GradCAM(module, layer, lock=lock)
        return self.kind(module, layer, options=options)


METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method(
            "grad_cam",
            "Grad-CAM",
            "Weights each channel of a layer by the mean gradient of the class score, adds them up and "
            "keeps the positive part: a coarse map of the evidence for the class.",
            expensive=False,
            isolated=False,
            kind=GradCAM,
        ),
        Method(
            "guided_grad_cam",
            "Guided Grad-CAM",
            "Grad-CAM times guided backpropagation (gradients through ReLUs kept only where positive): "
            "pixel-sharp edges inside the Grad-CAM region.",
            expensive=False,
            isolated=True,
            kind=GuidedGradCAM,
        ),
        Method(
            "saliency",
            "Saliency (gradient)",
            "How much the class score would change if each pixel changed: the gradient at the image.",
            expensive=False,
            isolated=False,
            kind=Saliency,
        ),
        Method(
            "integrated_gradients",
            "Integrated Gradients",
            "Adds up gradients along a path from a plain image (the training set's mean colour) to this "
            "one; the attributions sum to the change in the class score.",
            expensive=True,
            isolated=False,
            kind=IntegratedGradients,
        ),
        Method(
            "occlusion",
            "Occlusion",
            "Covers the image with a plain square, place after place, and records how much the class "
            "score drops: no gradients, just many forward passes.",
            expensive=True,
            isolated=False,
            kind=Occlusion,
        ),
    )
}


def method(key: str) -> Method:
    """The method called ``key``; an unknown key is an error that lists the known ones."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"Unknown method {key!r}; choose one of: {', '.join(METHODS)}.") from None


def heatmap(
    module: nn.Module,
    batch: torch.Tensor,
    key: str,
    target: int,
    layer: str,
    options: Options = DEFAULT_OPTIONS,
    lock: threading.RLock | None = None,
) -> np.ndarray:
    """Method ``key``'s (H, W) map in [0, 1] of class ``target`` for a ``(1, C, H, W)`` batch.

    ``module``'s training flags, ``requires_grad`` and ``.grad`` are restored afterwards. Methods
    marked ``isolated`` hook the module: give them a private one (:func:`core.models.loading.private_view`).
    """
    with method(key).bind(module, layer, options, lock) as bound:
        return bound.attribute(batch, int(target))[0]


@dataclass(frozen=True)
class Attribution:
    """One method's map of one class on one image."""

    method: str
    target: int
    label: str
    layer: str
    heat: np.ndarray  # (H, W) float32 in [0, 1], at the input's resolution
    cost: Cost
    note: str = ""  # a caveat about this model, if any
    coarse: np.ndarray | None = None  # Grad-CAM: the map at the layer's own resolution, in [0, 1]
    probability: float | None = None  # Grad-CAM: the class's softmax probability

    def title(self, where: str) -> str:
        """E.g. "Grad-CAM of tabby (41.0%) at the last conv block" or "Saliency (gradient) of tabby"."""
        if self.method != "grad_cam":
            return f"{METHODS[self.method].label} of {self.label}"
        return f"Grad-CAM of {self.label} ({self.probability:.1%}) at {where}"


def from_grad_cam(result: GradCamResult) -> Attribution:
    """The one-class, one-layer :class:`GradCamResult` as an :class:`Attribution` like the other methods'.

    Grad-CAM is the one method computed for several classes and layers in one batched, shared pass
    (:func:`core.serving.explain`); this is how its answer joins the others on the page.
    """
    if len(result.targets) != 1 or len(result.layers) != 1:
        raise ValueError(
            f"result must hold one class at one layer, got {len(result.targets)} classes "
            f"at {len(result.layers)} layers."
        )
    maps = result.layers[0]
    return Attribution(
        "grad_cam",
        result.targets[0],
        result.labels[0],
        maps.layer,
        maps.maps[0],
        METHODS["grad_cam"].cost(DEFAULT_OPTIONS, maps.maps.shape[-2:]),
        coarse=maps.coarse[0],
        probability=result.probabilities[0],
    )


def _note(key: str, module: nn.Module) -> str:
    if key == "guided_grad_cam" and not any(isinstance(m, nn.ReLU) for m in module.modules()):
        return (
            "This model has no ReLU layers (it uses other activations), so guided backpropagation changes "
            "nothing here: the detail is plain gradient times Grad-CAM."
        )
    return ""


def attribute(
    model: LoadedModel, image: Image.Image, key: str, target: int, layer: str, options: Options = DEFAULT_OPTIONS
) -> Attribution:
    """Method ``key``'s map of class ``target`` on ``image``, on the shared model (or a private view)."""
    chosen = method(key)
    if model.categories and not 0 <= target < len(model.categories):
        raise ValueError(f"target {target} is out of range: {model.card.label} has {len(model.categories)} classes.")
    batch = model.to_input(image)
    module = private_view(model) if chosen.isolated else model.module
    heat = heatmap(module, batch, key, target, layer, options, model.lock)
    return Attribution(
        chosen.key,
        int(target),
        model.label(int(target)),
        layer,
        heat,
        chosen.cost(options, tuple(batch.shape[-2:])),
        _note(key, model.module),
    )
