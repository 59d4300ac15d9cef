"""The Captum attribution methods as :class:`~core.explain.attributor.Attributor` objects.

Each is bound to a model and a layer and maps one image to a [0, 1] heatmap at the input's
resolution. Guided Grad-CAM hooks every ``nn.ReLU`` during its call, so give it a private view of
a shared model (:func:`core.models.loading.private_view`); the others add no hooks.
"""

from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass

import captum.attr as ca
import numpy as np
import torch
from torch import nn

from core.explain.attributor import Attributor, Cost

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
