"""Dataset examples (Zeiler & Fergus): the image patches that excite a channel most.

One pass over a dataset records, for every channel of every convolution, each image's
largest activation: per layer an ``(N, C)`` maximum, reduced inside the forward hooks batch
by batch, so no activation map is kept. The maps are taken as the features page shows them
(after the BatchNorm and ReLU that follow a convolution,
:func:`core.features.conv_maps.record_conv_maps`). Any channel's top images are then a sort of one
column (:class:`core.features.unit_maxima.UnitMaxima`); where each maximum is, is found when the
channel is shown, by running just those images again (:mod:`core.features.unit_location`), and
their patches are crops of the receptive field there (:mod:`core.features.example_patches`).

Why not record where in the pass too: the position is an ``argmax`` per channel, a scalar
kernel on the CPU, which made the pass cost 1.4-1.6x a plain forward on MobileNetV3-Small
(``python -m bench.units``) instead of ~1.1x; a channel shows 9 images, and locating them
is one small forward that stops at the layer.

The pass is cached on disk per (model, weights, dataset, input size) under ``CONVLENS_HOME``;
the file is written to a temporary name and renamed, so a cancelled pass leaves nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch

from core.config.device import inference
from core.config.settings import get_settings
from core.datasets.image_sets import ImageSet
from core.datasets.tensors import Preprocess, decode_split
from core.features.capture import input_sizes
from core.features.conv_maps import record_conv_maps
from core.features.unit_maxima import Cancelled, UnitMaxima, load_maxima, save_maxima, weights_digest
from core.models.loading import LoadedModel, private_view

BATCH = 32
Progress = Callable[[int, int], object]
Cancel = Callable[[], bool]


def _channel_maxima(maps: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Each channel's maximum, ``(B, C)`` float32 on the CPU, and the map's ``(H, W)``."""
    n, c, h, w = maps.shape
    values = maps.reshape(n, c) if h * w == 1 else maps.amax(dim=(2, 3))
    return values.to("cpu", torch.float32), (h, w)


def record_maxima(
    module: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    total: int,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """Per conv layer ``(max (N, C), (H, W))`` over ``batches`` of model inputs.

    Raises:
        Cancelled: ``cancel()`` returned True between two batches.
    """
    found: dict[str, tuple[list[torch.Tensor], tuple[int, int]]] = {}
    done = 0
    with record_conv_maps(module, store=_channel_maxima) as recorded, inference(next(module.parameters()).device):
        for batch in batches:
            if cancel is not None and cancel():
                raise Cancelled("The pass was cancelled; nothing was saved.")
            module(batch)
            for name, ((values, shape), _after) in recorded.items():
                found.setdefault(name, ([], shape))[0].append(values)
            recorded.clear()
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return {name: (torch.cat(values).numpy(), shape) for name, (values, shape) in found.items()}


_VIEWS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # shared module -> (private view, its lock)
_VIEWS_LOCK = threading.Lock()


@contextlib.contextmanager
def pass_view(model: LoadedModel) -> Iterator[torch.nn.Module]:
    """A private view of the model's module for one pass, kept for the next pass of this model.

    Copying the module tree costs tens of milliseconds on models of many small layers
    (MobileNetV3: ~40 ms, a third of a plain forward over 64 images), so one view per shared
    module is reused; a pass that finds it in use by another one makes its own. Like
    :func:`weights_digest`, it assumes a cached model's weights are never replaced.
    """
    with _VIEWS_LOCK:
        view, lock = _VIEWS.get(model.module) or (None, None)
        if view is None:
            view, lock = private_view(model), threading.Lock()
            _VIEWS[model.module] = (view, lock)
    if not lock.acquire(blocking=False):
        yield private_view(model)
        return
    try:
        yield view
    finally:
        lock.release()


def cache_path(model: LoadedModel, images: ImageSet, size: int) -> Path:
    """Where the pass of ``model`` over ``images`` at ``size`` px is stored."""
    key = hashlib.blake2b(f"{weights_digest(model)}|{images.digest()}|{size}".encode(), digest_size=12)
    return get_settings().home / "unit-examples" / f"{model.key}-{key.hexdigest()}.npz"


def _decoded_batches(
    images: ImageSet, preprocess: Preprocess, device: torch.device, kept: list[str], skipped: list[str]
) -> Iterator[torch.Tensor]:
    """Decode ``images`` a batch at a time (never all at once) into model inputs."""
    for start in range(0, len(images.samples), BATCH):
        decoded = decode_split(images.samples[start : start + BATCH], preprocess, images.root)
        kept.extend(str(p) for p in decoded.paths)
        skipped.extend(f"{s.path}: {s.reason}" for s in decoded.skipped)
        if len(decoded):
            yield preprocess.batch(decoded.images).to(device)


def dataset_maxima(
    model: LoadedModel,
    images: ImageSet,
    size: int | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> UnitMaxima:
    """One pass of ``model`` over ``images`` recording every channel's maxima, cached on disk.

    Args:
        model: any zoo model; its shared module is not touched (hooks go on a private view).
        images: the dataset (:mod:`core.datasets.image_sets`).
        size: input side in pixels (default: the model's own).
        progress: called with (images done, total) after each batch.
        cancel: checked between batches; when it returns True the pass stops and nothing is saved.

    Raises:
        ValueError: ``size`` is not offered for the model, or no image could be decoded.
        Cancelled: the pass was cancelled.
    """
    size = size or input_sizes(model)[0]
    if size not in input_sizes(model):
        raise ValueError(f"size {size} px is not offered for {model.card.label}; choose one of {input_sizes(model)}.")
    path = cache_path(model, images, size)
    if path.is_file():
        return load_maxima(path)
    preprocess = Preprocess.for_model(model.transforms, size)
    kept: list[str] = []
    skipped: list[str] = []
    start = time.perf_counter()
    batches = _decoded_batches(images, preprocess, model.device, kept, skipped)
    with pass_view(model) as view:
        layers = record_maxima(view, batches, len(images.samples), progress, cancel)
    if not kept:
        raise ValueError(f"No image of '{images.label}' could be decoded; choose another dataset.")
    result = UnitMaxima(
        model=model.display_name,
        dataset=images.label,
        size=size,
        paths=tuple(kept),
        skipped=tuple(skipped),
        layers=tuple(layers),
        shapes={name: shape for name, (_, shape) in layers.items()},
        maxima={name: values for name, (values, _) in layers.items()},
        seconds=time.perf_counter() - start,
    )
    save_maxima(result, path)
    return result


def find_cached_maxima(model: LoadedModel, images: ImageSet, size: int) -> UnitMaxima | None:
    """The stored pass of ``model`` over ``images`` at ``size`` px, or None when there is none yet."""
    path = cache_path(model, images, size)
    return load_maxima(path) if path.is_file() else None
