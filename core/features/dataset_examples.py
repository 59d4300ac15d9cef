"""Dataset examples (Zeiler & Fergus): the image patches that excite a channel most.

One pass over a dataset records, for every channel of every convolution, each image's
largest activation and where it is: per layer an ``(N, C)`` maximum and an ``(N, C)`` flat
argmax, reduced inside the forward hooks batch by batch, so no activation map is kept. The
maps are taken as the features page shows them (after the BatchNorm and ReLU that follow a
convolution, :func:`core.features.capture.record_conv_maps`). Any channel's top images are then a
sort of one column, and their patches are crops of the receptive field of the maximum.

The pass is cached on disk per (model, weights, dataset, input size) under ``CONVLENS_HOME``;
the file is written to a temporary name and renamed, so a cancelled pass leaves nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.config.device import inference
from core.config.settings import get_settings
from core.datasets.image_sets import ImageSet
from core.datasets.tensors import Preprocess, decode_split
from core.features.capture import input_sizes, record_conv_maps
from core.features.conv_arithmetic import ReceptiveField, model_receptive_fields
from core.models.loading import LoadedModel, private_view

BATCH = 32
Progress = Callable[[int, int], object]
Cancel = Callable[[], bool]


class Cancelled(Exception):
    """The user stopped the pass; nothing was written."""


@dataclass(frozen=True, eq=False)
class UnitMaxima:
    """Every channel's maximum on every image of a dataset, and where it is.

    ``maxima[layer]`` is ``(N, C)`` float32 and ``where[layer]`` ``(N, C)`` int32, the flat
    index ``row * W + col`` into the layer's ``(H, W)`` map (``shapes[layer]``).
    """

    model: str
    dataset: str
    size: int
    paths: tuple[str, ...]
    skipped: tuple[str, ...]
    layers: tuple[str, ...]
    shapes: dict[str, tuple[int, int]]
    maxima: dict[str, np.ndarray]
    where: dict[str, np.ndarray]
    seconds: float
    cached: bool = False

    def channels(self, layer: str) -> int:
        return self._check(layer).shape[1]

    def _check(self, layer: str) -> np.ndarray:
        if layer not in self.maxima:
            raise ValueError(f"layer {layer!r} was not recorded; choose one of {', '.join(self.layers[:5])}...")
        return self.maxima[layer]

    def top(self, layer: str, channel: int, k: int = 9) -> list[tuple[int, float, int, int]]:
        """The ``k`` images where ``channel`` of ``layer`` fires most: (image index, max, row, col)."""
        values = self._check(layer)
        if not 0 <= channel < values.shape[1]:
            raise ValueError(f"channel must be between 0 and {values.shape[1] - 1}, got {channel}.")
        order = np.argsort(-values[:, channel].astype(np.float64), kind="stable")[:k]
        width = self.shapes[layer][1]
        return [(int(i), float(values[i, channel]), *divmod(int(self.where[layer][i, channel]), width)) for i in order]

    def csv(self, layer: str, channel: int) -> str:
        """Every image's maximum for the channel, strongest first, as CSV text."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["rank", "image", "max", "row", "col"])
        for rank, (i, value, row, col) in enumerate(self.top(layer, channel, len(self.paths)), start=1):
            writer.writerow([rank, self.paths[i], f"{value:.6g}", row, col])
        return out.getvalue()


def _reduce(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """Each channel's maximum and its flat position, ``(B, C)`` each, on the CPU.

    ``max(dim)`` with indices is a slow kernel on the CPU; on large maps each row's maximum
    (a fast ``amax``) is taken first, then the best row and the best column in it: the same
    first-in-row-major-order position, on ``H + W`` instead of ``H * W`` values per channel.
    """
    n, c, h, w = maps.shape
    if h * w < 1024:
        values, where = maps.flatten(2).max(dim=2)
    else:
        values, row = maps.amax(3).max(dim=2)
        line = maps.gather(2, row[:, :, None, None].expand(n, c, 1, w))[:, :, 0]
        where = row * w + line.argmax(2)
    return values.float().cpu(), where.to(torch.int32).cpu(), (h, w)


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


_WEIGHT_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def weights_digest(model: LoadedModel) -> str:
    """A hash of the model's parameters and buffers (cached per module)."""
    if model.module not in _WEIGHT_DIGESTS:
        digest = hashlib.blake2b(model.key.encode(), digest_size=12)
        for name, tensor in model.module.state_dict().items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())  # no copy
        _WEIGHT_DIGESTS[model.module] = digest.hexdigest()
    return _WEIGHT_DIGESTS[model.module]


def cache_path(model: LoadedModel, images: ImageSet, size: int) -> Path:
    """Where the pass of ``model`` over ``images`` at ``size`` px is stored."""
    key = hashlib.blake2b(f"{weights_digest(model)}|{images.digest()}|{size}".encode(), digest_size=12)
    return get_settings().home / "unit-examples" / f"{model.key}-{key.hexdigest()}.npz"


def atomic_savez(path: Path, **arrays: np.ndarray) -> None:
    """``np.savez`` to a temporary file beside ``path``, then renamed: the file is all there or absent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save(result: UnitMaxima, path: Path) -> None:
    meta = {k: getattr(result, k) for k in ("model", "dataset", "size", "paths", "skipped", "layers", "seconds")}
    meta["shapes"] = {name: list(shape) for name, shape in result.shapes.items()}
    arrays = {f"max{i}": result.maxima[n] for i, n in enumerate(result.layers)}
    arrays |= {f"where{i}": result.where[n] for i, n in enumerate(result.layers)}
    atomic_savez(path, meta=np.array(json.dumps(meta)), **arrays)


def _load(path: Path) -> UnitMaxima:
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"]))
        layers = tuple(meta["layers"])
        return UnitMaxima(
            model=meta["model"],
            dataset=meta["dataset"],
            size=meta["size"],
            paths=tuple(meta["paths"]),
            skipped=tuple(meta["skipped"]),
            layers=layers,
            shapes={name: tuple(shape) for name, shape in meta["shapes"].items()},
            maxima={n: data[f"max{i}"] for i, n in enumerate(layers)},
            where={n: data[f"where{i}"] for i, n in enumerate(layers)},
            seconds=meta["seconds"],
            cached=True,
        )


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
        return _load(path)
    preprocess = Preprocess.for_model(model.transforms, size)
    kept: list[str] = []
    skipped: list[str] = []
    start = time.perf_counter()
    batches = _decoded_batches(images, preprocess, model.device, kept, skipped)
    layers = record_maxima(private_view(model), batches, len(images.samples), progress, cancel)
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
    _save(result, path)
    return result


def find_cached_maxima(model: LoadedModel, images: ImageSet, size: int) -> UnitMaxima | None:
    """The stored pass of ``model`` over ``images`` at ``size`` px, or None when there is none yet."""
    path = cache_path(model, images, size)
    return _load(path) if path.is_file() else None


@dataclass(frozen=True)
class Example:
    """One of a channel's top images: the patch its maximum sees and where it is."""

    image: str
    value: float
    unit: tuple[int, int]
    window: tuple[int, int, int, int]  # top, left, bottom, right (inclusive) in input pixels, clipped to it
    patch: Image.Image


def _clipped(window: tuple[int, int, int, int], size: int) -> tuple[int, int, int, int]:
    """The part of ``window`` inside a ``size`` x ``size`` input (fields can reach into the padding)."""
    top, left, bottom, right = window
    return max(top, 0), max(left, 0), min(bottom, size - 1), min(right, size - 1)


def channel_examples(
    model: LoadedModel, maxima: UnitMaxima, layer: str, channel: int, k: int = 9
) -> tuple[Example, ...]:
    """The ``k`` strongest images of ``channel``, each cropped to the receptive field of its maximum."""
    try:
        field: ReceptiveField | None = model_receptive_fields(model.key, maxima.size).get(layer)
    except (RuntimeError, NotImplementedError, ValueError):
        field = None
    preprocess = Preprocess.for_model(model.transforms, maxima.size)
    whole = (0, 0, maxima.size - 1, maxima.size - 1)
    examples = []
    for index, value, row, col in maxima.top(layer, channel, k):
        path = Path(maxima.paths[index])
        picture = preprocess.picture(preprocess.decode(path))
        window = whole if field is None or field.is_global else _clipped(field.window(row, col), maxima.size)
        top, left, bottom, right = window
        patch = picture.crop((left, top, right + 1, bottom + 1))
        examples.append(Example(path.name, value, (row, col), window, patch))
    return tuple(examples)


def examples_grid(examples: tuple[Example, ...], side: int = 128, columns: int = 3) -> Image.Image:
    """The patches as one picture (for the PNG download), ``side`` px each, 4 px apart."""
    rows = max(1, -(-len(examples) // columns))
    grid = Image.new("RGB", (columns * (side + 4) - 4, rows * (side + 4) - 4), (255, 255, 255))
    for i, example in enumerate(examples):
        r, c = divmod(i, columns)
        grid.paste(example.patch.resize((side, side), Image.NEAREST), (c * (side + 4), r * (side + 4)))
    return grid
