"""Dataset examples (Zeiler & Fergus): the image patches that excite a channel most.

One pass over a dataset records, for every channel of every convolution, each image's
largest activation and where it is: per layer an ``(N, C)`` maximum and an ``(N, C)`` flat
argmax, reduced inside the forward hooks batch by batch, so no activation map is kept. The
maps are taken as the features page shows them (after the BatchNorm and ReLU that follow a
convolution, :func:`core.features.conv_maps.record_conv_maps`). Any channel's top images are then a
sort of one column (:class:`core.features.unit_maxima.UnitMaxima`), and their patches are crops of the
receptive field of the maximum (:mod:`core.features.example_patches`).

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


def _reduce(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Each channel's maximum and its flat position, ``(B, C)`` each, on the CPU.

    ``max(dim)`` with indices is the costly part (a scalar kernel on the CPU, ~10x ``amax``):
    a 1 x 1 map (squeeze-and-excitation blocks) is its own maximum, at 0; on large maps each
    row's maximum (a fast ``amax``) is taken first, then the best row and the best column in
    it: the same first-in-row-major-order position, on ``H + W`` instead of ``H * W`` values.
    """
    n, c, h, w = maps.shape
    if h * w == 1:
        values, where = maps.reshape(n, c), torch.zeros(n, c, dtype=torch.int32, device=maps.device)
    elif h * w < 1024:
        values, where = maps.flatten(2).max(dim=2)
    else:
        values, row = maps.amax(3).max(dim=2)
        line = maps.gather(2, row[:, :, None, None].expand(n, c, 1, w))[:, :, 0]
        where = row * w + line.argmax(2)
    return values.to("cpu", torch.float32), where.to("cpu", torch.int32), (h, w)


def record_maxima(
    module: torch.nn.Module,
    batches: Iterable[torch.Tensor],
    total: int,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray, tuple[int, int]]]:
    """Per conv layer ``(max (N, C), argmax (N, C), (H, W))`` over ``batches`` of model inputs.

    Raises:
        Cancelled: ``cancel()`` returned True between two batches.
    """
    found: dict[str, list] = {}
    done = 0
    with record_conv_maps(module, store=_reduce) as recorded, inference(next(module.parameters()).device):
        for batch in batches:
            if cancel is not None and cancel():
                raise Cancelled("The pass was cancelled; nothing was saved.")
            module(batch)
            for name, ((values, where, shape), _after) in recorded.items():
                found.setdefault(name, [[], [], shape])
                found[name][0].append(values)
                found[name][1].append(where)
            recorded.clear()
            done += len(batch)
            if progress is not None:
                progress(done, total)
    return {n: (torch.cat(v).numpy(), torch.cat(w).numpy(), s) for n, (v, w, s) in found.items()}


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
        shapes={name: shape for name, (_, _, shape) in layers.items()},
        maxima={name: values for name, (values, _, _) in layers.items()},
        where={name: where for name, (_, where, _) in layers.items()},
        seconds=time.perf_counter() - start,
    )
    save_maxima(result, path)
    return result


def find_cached_maxima(model: LoadedModel, images: ImageSet, size: int) -> UnitMaxima | None:
    """The stored pass of ``model`` over ``images`` at ``size`` px, or None when there is none yet."""
    path = cache_path(model, images, size)
    return load_maxima(path) if path.is_file() else None
