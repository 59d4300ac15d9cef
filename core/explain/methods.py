"""Attribution methods (Grad-CAM and Captum's), each with its cost known before it runs.

Every method turns (model, image, class) into a [0, 1] heatmap at the input's resolution.
Grad-CAM is :func:`core.explain.gradcam.grad_cam`; the others call Captum. Guided Grad-CAM hooks
every ``nn.ReLU``, so it runs on a private view of the model (:func:`core.models.loading.private_view`)
where those hooks cannot reach other sessions; Saliency, Integrated Gradients and Occlusion
add no hooks and only read the shared model.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from captum.attr import GuidedGradCam, IntegratedGradients, Occlusion, Saliency
from PIL import Image
from torch import nn

from core.explain.gradcam import grad_cam
from core.models.loading import LoadedModel, private_view
from core.util.hooks import preserved_state, resolve_layer

CLIP_PERCENTILE = 99.0  # heatmaps of pixel attributions are scaled so this percentile reaches 1


@dataclass(frozen=True)
class Cost:
    """What a method costs for one image: images pushed through the model, and in how many calls."""

    forwards: int
    backwards: int
    calls: int

    def describe(self) -> str:
        """E.g. ``1 forward + 1 backward pass`` or ``170 forward passes in 12 batches``."""
        passes = f"{self.forwards} forward" + (f" + {self.backwards} backward" if self.backwards else "")
        plural = "es" if max(self.forwards, self.backwards) > 1 else ""
        batches = f" in {self.calls} batches" if self.calls < max(self.forwards, self.backwards) else ""
        return f"{passes} pass{plural}{batches}"

    def seconds(self, forward_ms: float) -> float:
        """A rough estimate from the time of one forward pass (a backward pass costs about two)."""
        return forward_ms / 1000 * (self.forwards + 2 * self.backwards)


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


Runner = Callable[[nn.Module, torch.Tensor, int, str, Options, "threading.RLock | None"], np.ndarray]


@dataclass(frozen=True)
class Method:
    """One attribution method: what it shows, what it costs, and how it runs."""

    key: str
    label: str
    idea: str  # one sentence for the page
    expensive: bool  # run only behind a button
    isolated: bool  # adds hooks that other sessions would trip on: run on a private view
    settings: tuple[str, ...]  # the fields of Options it uses
    cost: Callable[[Options, tuple[int, int]], Cost] = field(compare=False, repr=False)
    run: Runner = field(compare=False, repr=False)


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


def _grad_cam(
    module: nn.Module, batch: torch.Tensor, target: int, layer: str, options: Options, lock: threading.RLock | None
) -> np.ndarray:
    return grad_cam(module, batch, [target], layer, lock)[0]


def _guided_grad_cam(
    module: nn.Module, batch: torch.Tensor, target: int, layer: str, options: Options, lock: threading.RLock | None
) -> np.ndarray:
    _, sub = resolve_layer(module, layer)
    with warnings.catch_warnings():
        # Captum always announces that it hooks the ReLUs; it removes them in `finally` (tested).
        warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU", category=UserWarning)
        attr = GuidedGradCam(module, sub).attribute(_input(batch), target=target, interpolate_mode="bilinear")
    return _heat(attr, "absolute")


def _saliency(
    module: nn.Module, batch: torch.Tensor, target: int, layer: str, options: Options, lock: threading.RLock | None
) -> np.ndarray:
    return _heat(Saliency(module).attribute(_input(batch), target=target, abs=True), "absolute")


def _integrated_gradients(
    module: nn.Module, batch: torch.Tensor, target: int, layer: str, options: Options, lock: threading.RLock | None
) -> np.ndarray:
    attr = IntegratedGradients(module).attribute(
        _input(batch),
        baselines=torch.zeros_like(batch),
        target=target,
        n_steps=options.steps,
        internal_batch_size=options.batch_size,
    )
    return _heat(attr, "absolute")


def _occlusion(
    module: nn.Module, batch: torch.Tensor, target: int, layer: str, options: Options, lock: threading.RLock | None
) -> np.ndarray:
    channels = batch.shape[1]
    with torch.no_grad():
        attr = Occlusion(module).attribute(
            batch,
            target=target,
            sliding_window_shapes=(channels, options.window, options.window),
            strides=(channels, options.stride, options.stride),
            baselines=0.0,
            perturbations_per_eval=options.batch_size,
        )
    return _heat(attr, "positive")


def occlusion_windows(options: Options, size: tuple[int, int]) -> int:
    """How many squares Occlusion greys out on an input of ``size`` = (H, W), as Captum places them."""
    return math.prod(math.ceil((side - options.window) / options.stride) + 1 for side in size)


def _occlusion_cost(options: Options, size: tuple[int, int]) -> Cost:
    windows = occlusion_windows(options, size)
    return Cost(1 + windows, 0, 1 + math.ceil(windows / options.batch_size))


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
            settings=(),
            cost=lambda _o, _s: Cost(1, 1, 1),
            run=_grad_cam,
        ),
        Method(
            "guided_grad_cam",
            "Guided Grad-CAM",
            "Grad-CAM times guided backpropagation (gradients through ReLUs kept only where positive): "
            "pixel-sharp edges inside the Grad-CAM region.",
            expensive=False,
            isolated=True,
            settings=(),
            cost=lambda _o, _s: Cost(2, 2, 2),
            run=_guided_grad_cam,
        ),
        Method(
            "saliency",
            "Saliency (gradient)",
            "How much the class score would change if each pixel changed: the gradient at the image.",
            expensive=False,
            isolated=False,
            settings=(),
            cost=lambda _o, _s: Cost(1, 1, 1),
            run=_saliency,
        ),
        Method(
            "integrated_gradients",
            "Integrated Gradients",
            "Adds up gradients along a path from a plain image (the training set's mean colour) to this "
            "one; the attributions sum to the change in the class score.",
            expensive=True,
            isolated=False,
            settings=("steps", "batch_size"),
            cost=lambda o, _s: Cost(o.steps, o.steps, math.ceil(o.steps / o.batch_size)),
            run=_integrated_gradients,
        ),
        Method(
            "occlusion",
            "Occlusion",
            "Covers the image with a plain square, place after place, and records how much the class "
            "score drops: no gradients, just many forward passes.",
            expensive=True,
            isolated=False,
            settings=("window", "stride", "batch_size"),
            cost=_occlusion_cost,
            run=_occlusion,
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
    chosen = method(key)
    options.check(chosen.settings, tuple(batch.shape[-2:]))
    with preserved_state(module):
        return chosen.run(module, batch, int(target), layer, options, lock)


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
