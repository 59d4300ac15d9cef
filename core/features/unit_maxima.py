"""The recorded maxima of a dataset pass (:class:`UnitMaxima`), and storing results on disk.

Files are written to a temporary name and renamed (:func:`atomic_savez`), so a cancelled or
crashed run leaves nothing; results are keyed by a hash of the weights (:func:`weights_digest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.models.loading import LoadedModel


class Cancelled(Exception):
    """The user stopped the pass; nothing was written."""


@dataclass(frozen=True, eq=False)
class UnitMaxima:
    """Every channel's maximum on every image of a dataset.

    ``maxima[layer]`` is ``(N, C)`` float32, for the layer's ``(H, W)`` maps (``shapes[layer]``);
    where each maximum is, is found on demand (:mod:`core.features.unit_location`).
    """

    model: str
    dataset: str
    size: int
    paths: tuple[str, ...]
    skipped: tuple[str, ...]
    layers: tuple[str, ...]
    shapes: dict[str, tuple[int, int]]
    maxima: dict[str, np.ndarray]
    seconds: float
    cached: bool = False

    def channels(self, layer: str) -> int:
        return self._check(layer).shape[1]

    def _check(self, layer: str) -> np.ndarray:
        if layer not in self.maxima:
            raise ValueError(f"layer {layer!r} was not recorded; choose one of {', '.join(self.layers[:5])}...")
        return self.maxima[layer]

    def top(self, layer: str, channel: int, k: int = 9) -> list[tuple[int, float]]:
        """The ``k`` images where ``channel`` of ``layer`` fires most: (image index, max), strongest first."""
        values = self._check(layer)
        if not 0 <= channel < values.shape[1]:
            raise ValueError(f"channel must be between 0 and {values.shape[1] - 1}, got {channel}.")
        order = np.argsort(-values[:, channel].astype(np.float64), kind="stable")[:k]
        return [(int(i), float(values[i, channel])) for i in order]


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


def save_maxima(result: UnitMaxima, path: Path) -> None:
    meta = {k: getattr(result, k) for k in ("model", "dataset", "size", "paths", "skipped", "layers", "seconds")}
    meta["shapes"] = {name: list(shape) for name, shape in result.shapes.items()}
    arrays = {f"max{i}": result.maxima[n] for i, n in enumerate(result.layers)}
    atomic_savez(path, meta=np.array(json.dumps(meta)), **arrays)


def load_maxima(path: Path) -> UnitMaxima:
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
            seconds=meta["seconds"],
            cached=True,
        )
