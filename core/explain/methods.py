"""Attribution methods (Grad-CAM and Captum's) as objects, each with its cost known before it runs.

Every method is an :class:`~core.explain.attributor.Attributor` bound to a model and a layer that
turns (image, class) into a [0, 1] heatmap at the input's resolution. Grad-CAM is ours
(:class:`core.explain.gradcam.GradCAM`); the others call Captum. Guided Grad-CAM hooks every
``nn.ReLU``, so it runs on a private view of the model (:func:`core.models.loading.private_view`)
where those hooks cannot reach other sessions; Saliency, Integrated Gradients and Occlusion
add no hooks and only read the shared model.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass

import captum.attr as ca
import numpy as np
import torch
from PIL import Image
from torch import nn

from core.explain.attributor import Attributor, Cost
from core.explain.gradcam import GradCAM
from core.models.loading import LoadedModel, private_view

CLIP_PERCENTILE = 99.0  # heatmaps of pixel attributions are scaled so this percentile reaches 1


@dataclass(frozen=True)
class Options:
    """Settings of the methods that have some."""

    steps: int = 32  # Integrated Gradients: points on the path from the baseline to the image
    batch_size: int = 8  # Integrated Gradients and Occlusion: images per model call (bounds memory)
    window: int = 32  # Occlusion: side of the grey square, in input pixels
    stride: int = 16  # Occlusion: step between squares, in input pixels

    def check(self, names: tuple[str, ...], size: tuple[int, int]) -> None:
        """Raise ValueError naming the setting among ``names`` that cannot work for an input of ``size`` = (H, W)."""
        bounds = {"steps": (2, 512), "batch_size": (1, 256), "window": (2, min(size)), "stride": (1, self.window)}
        for name in names:
            (low, high), value = bounds[name], getattr(self, name)
            if not low <= value <= high:
                raise ValueError(
                    f"{name} must be between {low} and {high} for a {size[0]}x{size[1]} input, got {value}."
                )


def _input(batch: torch.Tensor) -> torch.Tensor:
    """A copy of ``batch`` that requires grad, as Captum's gradient methods expect (else they warn)."""
    return batch.detach().clone().requires_grad_()


def _heat(attr: torch.Tensor, sign: str) -> np.ndarray:
    """(1, C, H, W) pixel attributions to an (H, W) map in [0, 1]: summed over channels, then the
    absolute value or the positive part, scaled so the top percent saturates (one hot pixel must
    not turn the rest black)."""
    summed = attr.detach().float().sum(dim=1)[0]
    values = (summed.abs() if sign == "absolute" else summed.clamp(min=0)).cpu().numpy()
    scale = float(np.percentile(values, CLIP_PERCENTILE)) or float(values.max())
    return np.clip(values / scale, 0, 1).astype(np.float32) if scale > 0 else np.zeros_like(values)


class CaptumMethod(Attributor):
    """A Captum method on one image at a time, with the :class:`Options` it uses."""

    settings: tuple[str, ...] = ()

    def __init__(
        self,
        module: nn.Module,
        layer: str | nn.Module,
        *,
        lock: threading.RLock | None = None,
        options: Options = Options(),
    ) -> None:
        super().__init__(module, layer, lock=lock)
        self.options = options

    def _attribute(self, inputs: torch.Tensor, target: int | list[int]) -> np.ndarray:
        if inputs.ndim != 4 or inputs.shape[0] != 1:
            raise ValueError(f"inputs must have shape (1, C, H, W), got {tuple(inputs.shape)}.")
        self.options.check(self.settings, tuple(inputs.shape[-2:]))
        return self._map(inputs, int(target[0] if isinstance(target, list) else target))[None]

    def _map(self, batch: torch.Tensor, target: int) -> np.ndarray:
        raise NotImplementedError

    def cost(self, size: tuple[int, int]) -> Cost:
        return self.cost_of(self.options, size)

    @staticmethod
    def cost_of(options: Options, size: tuple[int, int]) -> Cost:
        """The cost with ``options`` on an input of ``size``, before any model is at hand."""
        return Cost(1, 1, 1)


class GuidedGradCAM(CaptumMethod):
    """Captum's Guided Grad-CAM; it hooks every ReLU during the call: give it a private module."""

    def _map(self, batch: torch.Tensor, target: int) -> np.ndarray:
        with warnings.catch_warnings():
            # Captum always announces that it hooks the ReLUs; it removes them in `finally` (tested).
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU", category=UserWarning)
            method = ca.GuidedGradCam(self.module, self.layer)
            attr = method.attribute(_input(batch), target=target, interpolate_mode="bilinear")
        return _heat(attr, "absolute")

    @staticmethod
    def cost_of(options: Options, size: tuple[int, int]) -> Cost:
        return Cost(2, 2, 2)


class Saliency(CaptumMethod):
    """Captum's Saliency: the absolute gradient of the class score at each pixel."""

    def _map(self, batch: torch.Tensor, target: int) -> np.ndarray:
        return _heat(ca.Saliency(self.module).attribute(_input(batch), target=target, abs=True), "absolute")


class IntegratedGradients(CaptumMethod):
    """Captum's Integrated Gradients from an all-zero (mean colour) baseline."""

    settings = ("steps", "batch_size")

    def _map(self, batch: torch.Tensor, target: int) -> np.ndarray:
        attr = ca.IntegratedGradients(self.module).attribute(
            _input(batch),
            baselines=torch.zeros_like(batch),
            target=target,
            n_steps=self.options.steps,
            internal_batch_size=self.options.batch_size,
        )
        return _heat(attr, "absolute")

    @staticmethod
    def cost_of(options: Options, size: tuple[int, int]) -> Cost:
        return Cost(options.steps, options.steps, math.ceil(options.steps / options.batch_size))


def occlusion_windows(options: Options, size: tuple[int, int]) -> int:
    """How many squares Occlusion greys out on an input of ``size`` = (H, W), as Captum places them."""
    return math.prod(math.ceil((side - options.window) / options.stride) + 1 for side in size)


class Occlusion(CaptumMethod):
    """Captum's Occlusion: the drop of the class score when a plain square covers each place."""

    settings = ("window", "stride", "batch_size")

    def _map(self, batch: torch.Tensor, target: int) -> np.ndarray:
        channels, o = batch.shape[1], self.options
        with torch.no_grad():
            attr = ca.Occlusion(self.module).attribute(
                batch,
                target=target,
                sliding_window_shapes=(channels, o.window, o.window),
                strides=(channels, o.stride, o.stride),
                baselines=0.0,
                perturbations_per_eval=o.batch_size,
            )
        return _heat(attr, "positive")

    @staticmethod
    def cost_of(options: Options, size: tuple[int, int]) -> Cost:
        windows = occlusion_windows(options, size)
        return Cost(1 + windows, 0, 1 + math.ceil(windows / options.batch_size))


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
    options: Options = Options(),
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


def _note(key: str, module: nn.Module) -> str:
    if key == "guided_grad_cam" and not any(isinstance(m, nn.ReLU) for m in module.modules()):
        return (
            "This model has no ReLU layers (it uses other activations), so guided backpropagation changes "
            "nothing here: the detail is plain gradient times Grad-CAM."
        )
    return ""


def attribute(
    model: LoadedModel, image: Image.Image, key: str, target: int, layer: str, options: Options = Options()
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
