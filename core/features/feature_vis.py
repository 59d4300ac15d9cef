"""Feature visualisation: the image a channel (or a class) wants, in the style of Lucid/Lucent.

An input image is optimised to excite one channel of a convolution (its mean activation, on
the map the features page shows: after the BatchNorm and ReLU that follow it) or one class
logit. As in Lucent (``optvis/param/spatial.py``, ``param/color.py``, ``transform.py``) the
image is parametrised in a decorrelated space, a Fourier spectrum scaled by 1/frequency over
decorrelated colours squashed by a sigmoid, and every step sees it padded, jittered, scaled
and rotated at random, so what survives is a feature, not adversarial noise (``style="texture"``).
With ``style="shape"`` only an outline is optimised, one object painted in random colours
(:mod:`core.features.vis_shape`): what a class of the shapes model looks like, not its texture.

Only the image parameters are optimised: gradients flow to the input through the shared,
frozen weights, on a private view of the module (:func:`core.models.loading.private_view`), whose
hooks are removed after every step, whatever happens.
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from PIL import Image
from torch import nn

from core.config.settings import get_settings
from core.datasets.tensors import Preprocess
from core.features.capture import input_sizes
from core.features.conv_maps import record_conv_maps
from core.features.unit_maxima import Cancelled, atomic_savez, weights_digest
from core.features.vis_params import FourierImage, redirect_relus
from core.features.vis_shape import ShapeImage
from core.models.loading import LoadedModel, private_view
from core.util.hooks import conv_layers
from core.viz.theme import styled

MAX_STEPS = 1024
STYLES = {"texture": 0.05, "shape": 0.1}  # each parametrisation's learning rate
Progress = Callable[[int, int, np.ndarray], object]


class _Stop(Exception):
    """Raised inside the forward pass once the target layer's map is recorded: the rest is not needed."""


@contextlib.contextmanager
def _stop_after(module: nn.Module, layer: str, recorded: dict) -> Iterator[None]:
    def check(_sub: nn.Module, _inputs) -> None:
        if layer in recorded:
            raise _Stop

    handles = [sub.register_forward_pre_hook(check) for sub in module.modules() if not list(sub.children())]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def objective_figure(result: FeatureVis) -> go.Figure:
    """The objective at every step of the optimisation, in the projector template."""
    fig = go.Figure(go.Scatter(x=np.arange(1, len(result.history) + 1), y=result.history, mode="lines"))
    what = "log-probability of the class" if result.layer is None else "mean activation of the channel"
    fig.update_layout(xaxis_title="step", yaxis_title=what, margin={"t": 20, "b": 10})
    return styled(fig, height=300)


def objective(module: nn.Module, x: torch.Tensor, layer: str | None, channel: int) -> torch.Tensor:
    """The mean of ``channel`` of ``layer``'s map, or the log-probability of class ``channel`` when
    ``layer`` is None (its logit minus the log-sum-exp of all: raising it pushes the other classes down)."""
    if layer is None:
        return torch.log_softmax(module(x), dim=1)[0, channel]
    keep = record_conv_maps(module, store=lambda t: t)
    with keep as recorded, _stop_after(module, layer, recorded), contextlib.suppress(_Stop):
        module(x)
    return recorded[layer][0][0, channel].mean()


@dataclass(frozen=True, eq=False)
class FeatureVis:
    """The optimised image (H, W, 3) in [0, 1], and the objective at every step."""

    model: str
    layer: str | None
    channel: int
    image: np.ndarray
    history: np.ndarray
    start: float  # objective on the starting image, untransformed
    final: float  # objective on the result, untransformed
    seconds: float
    cached: bool = False
    style: str = "texture"

    @property
    def picture(self) -> Image.Image:
        return to_picture(self.image)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["step", "objective"])
        writer.writerows((i + 1, f"{v:.6g}") for i, v in enumerate(self.history))
        return out.getvalue()


def to_picture(image: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8))


def _check(model: LoadedModel, layer: str | None, channel: int, size: int, steps: int, style: str) -> None:
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(STYLES)}, got {style!r}.")
    if layer is None:
        count = len(model.categories) or channel + 1
        what = "class"
    else:
        convs = dict(conv_layers(model.module))
        if layer not in convs:
            raise ValueError(f"layer {layer!r} is not a convolution of {model.card.label}.")
        count, what = convs[layer].out_channels, "channel"
    if not 0 <= channel < count:
        raise ValueError(f"{what} must be between 0 and {count - 1}, got {channel}.")
    if not 32 <= size <= 512:
        raise ValueError(f"size must be between 32 and 512 pixels, got {size}.")
    if not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be between 1 and {MAX_STEPS}, got {steps}.")


def visualise(
    model: LoadedModel,
    layer: str | None,
    channel: int,
    size: int = 128,
    steps: int = 128,
    *,
    lr: float | None = None,
    seed: int = 0,
    style: str = "texture",
    progress: Progress | None = None,
    every: int = 8,
    cancel: Callable[[], bool] | None = None,
) -> FeatureVis:
    """Optimise an image that excites ``channel`` of ``layer`` (or class ``channel`` when ``layer`` is None).

    Cached on disk per (weights, layer, channel, size, steps, seed, lr, style).

    Args:
        lr: Adam's learning rate (default: the style's own, :data:`STYLES`).
        style: ``"texture"`` (Lucid's decorrelated Fourier image) or ``"shape"`` (one object's outline).
        progress: called every ``every`` steps and at the end with (step, steps, image (H, W, 3)).
        cancel: checked before every step; True stops with :class:`Cancelled`, nothing saved.

    Raises:
        ValueError: unknown layer or style, channel out of range, size or steps out of range.
        Cancelled: ``cancel()`` returned True.
    """
    _check(model, layer, channel, size, steps, style)
    lr = STYLES[style] if lr is None else lr
    path = _cache_path(model, layer, channel, size, steps, seed, lr, style)
    if path.is_file():
        return _load(path, model, layer, channel, style)
    return _optimise(model, (layer, channel, size, steps, lr, seed, style), progress, every, cancel, path)


def find_cached_vis(
    model: LoadedModel,
    layer: str | None,
    channel: int,
    size: int = 128,
    steps: int = 128,
    seed: int = 0,
    lr: float | None = None,
    style: str = "texture",
) -> FeatureVis | None:
    """The result :func:`visualise` stored for these settings, or None when there is none yet."""
    _check(model, layer, channel, size, steps, style)
    lr = STYLES[style] if lr is None else lr
    path = _cache_path(model, layer, channel, size, steps, seed, lr, style)
    return _load(path, model, layer, channel, style) if path.is_file() else None


def _optimise(model: LoadedModel, settings: tuple, progress, every: int, cancel, path) -> FeatureVis:
    layer, channel, size, steps, lr, seed, style = settings
    view, device = redirect_relus(private_view(model)), model.device
    preprocess = Preprocess.for_model(model.transforms, size)
    mean = torch.tensor(preprocess.mean or (0.0, 0.0, 0.0), device=device).view(1, 3, 1, 1)
    std = torch.tensor(preprocess.std or (1.0, 1.0, 1.0), device=device).view(1, 3, 1, 1)
    if style == "shape":
        param: FourierImage | ShapeImage = ShapeImage(size, seed, device, work=input_sizes(model)[0])
    else:
        param = FourierImage(size, seed, device)
    optimizer = torch.optim.Adam(param.parameters, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    started = time.perf_counter()
    with torch.enable_grad():
        with torch.no_grad():
            start = float(objective(view, (param.seen() - mean) / std, layer, channel))
        for step in range(1, steps + 1):
            if cancel is not None and cancel():
                raise Cancelled("Feature visualisation cancelled; nothing was saved.")
            optimizer.zero_grad(set_to_none=True)
            value = objective(view, (param.view(generator) - mean) / std, layer, channel)
            (param.penalty() - value).backward()
            optimizer.step()
            history.append(float(value.detach()))
            if progress is not None and (step % every == 0 or step == steps):
                progress(step, steps, _image(param))
        with torch.no_grad():
            final = float(objective(view, (param.seen() - mean) / std, layer, channel))
    seconds = time.perf_counter() - started
    result = FeatureVis(
        model.display_name, layer, channel, _image(param), np.array(history, np.float32), start, final, seconds,
        style=style,
    )  # fmt: skip
    atomic_savez(path, image=result.image, history=result.history, values=np.array([start, final, result.seconds]))
    return result


def _image(param: FourierImage | ShapeImage) -> np.ndarray:
    with torch.no_grad():
        return param()[0].permute(1, 2, 0).float().cpu().numpy()


def _cache_path(model: LoadedModel, layer: str | None, channel: int, size: int, steps: int, seed: int, lr: float,
                style: str):  # fmt: skip
    what = f"{layer or 'logit'}-{channel}-{size}-{steps}-{seed}-{lr:g}" + ("" if style == "texture" else f"-{style}")
    name = f"{model.key}-{weights_digest(model)}-{what}.npz"
    return get_settings().home / "feature-vis" / name


def _load(path, model: LoadedModel, layer: str | None, channel: int, style: str) -> FeatureVis:
    with np.load(path, allow_pickle=False) as data:
        start, final, seconds = (float(v) for v in data["values"])
        return FeatureVis(
            model.display_name, layer, channel, data["image"], data["history"], start, final, seconds, True, style
        )
