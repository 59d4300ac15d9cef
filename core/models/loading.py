"""Loaded models: built, given their weights, in eval mode on the chosen device, and cached.

The cache is a bounded LRU shared by every browser session, so a cached model is
**read-only**. Anything that adds hooks or changes state (Grad-CAM, feature capture) holds
``LoadedModel.lock``; training works on a copy (:func:`copy_module`).
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from PIL import Image
from torch import nn

from core.config import limits
from core.config.device import default_device, inference
from core.errors import WeightsUnavailable
from core.models import weights
from core.models.registry import ModelCard, entry, model_card
from core.util.cache import ModelCache

RANDOM_SEED = 0


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A ready model and what is known about it. ``module`` is shared: never mutate it unlocked."""

    key: str
    card: ModelCard
    module: nn.Module
    trained: bool
    source: str
    device: torch.device
    transforms: Callable[[Image.Image], torch.Tensor] = field(repr=False)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def categories(self) -> tuple[str, ...]:
        return self.card.categories

    @property
    def display_name(self) -> str:
        """The model's label with its weights, e.g. ``ResNet-18 · ImageNet`` or ``· untrained``."""
        return f"{self.card.label} · {self.card.dataset if self.trained else 'untrained'}"

    def label(self, index: int) -> str:
        """The name of class ``index`` (its number when the model has no names)."""
        return self.categories[index] if 0 <= index < len(self.categories) else str(index)

    def to_input(self, image: Image.Image) -> torch.Tensor:
        """Preprocess ``image`` into a ``(1, 3, H, W)`` tensor on the model's device."""
        return self.transforms(image).unsqueeze(0).to(self.device)


def _build(
    key: str, pretrained: bool, device: torch.device, download: bool, progress: weights.Progress | None
) -> LoadedModel:
    card, zoo_entry = model_card(key), entry(key)
    if pretrained:
        location = weights.locate(card)
        if not location.available:
            if not download:
                raise WeightsUnavailable(weights.unavailable_message(card, "not downloaded yet"))
            location = weights.WeightsLocation(card.weights_file, weights.download(card, progress), "torch hub cache")
        module = zoo_entry.build()
        weights.apply_state_dict(module, zoo_entry.adapt(weights.read_state_dict(location.path)), card.label)
        source = f"{location.where}: {location.path}"
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            module = zoo_entry.build()
        source = f"random weights (PyTorch default initialisation, seed {RANDOM_SEED})"
    return LoadedModel(
        key, card, _ready(module, device, card.crop_size), pretrained, source, device, zoo_entry.transforms()
    )


def _ready(module: nn.Module, device: torch.device, size: int) -> nn.Module:
    """Eval mode, frozen, on ``device`` (channels_last on CUDA), warmed up by one forward pass."""
    module = module.eval().requires_grad_(False).to(device)
    if device.type == "cuda":
        module = module.to(memory_format=torch.channels_last)
    with inference(device):
        module(torch.zeros(1, 3, size, size, device=device))
    return module


MODELS: ModelCache[LoadedModel] = ModelCache(limits.MODEL_CACHE_ENTRIES)


def get_model(
    key: str,
    *,
    pretrained: bool = True,
    download: bool = False,
    progress: weights.Progress | None = None,
    device: torch.device | None = None,
) -> LoadedModel:
    """Return ``key`` ready for inference, from the cache when possible.

    Args:
        key: a zoo key (:func:`core.models.registry.list_models`).
        pretrained: load the published weights; False gives seeded random weights ("untrained").
        download: fetch missing weights from the internet (into the torch hub cache).
        progress: called with (bytes done, bytes total) while downloading.
        device: defaults to :func:`core.config.device.default_device`.

    Raises:
        ValueError: unknown key.
        WeightsUnavailable: pretrained weights are not here and were not (or could not be) downloaded.
        WeightsError: the weights file on disk is corrupt or does not fit the architecture.
    """
    entry(key)  # validate before touching the cache
    device = device or default_device()
    return MODELS.get((key, pretrained, str(device)), lambda: _build(key, pretrained, device, download, progress))


def from_state_dict(
    key: str, source, *, name: str = "uploaded weights", device: torch.device | None = None
) -> LoadedModel:
    """Build ``key`` with a user's state-dict file (read with ``weights_only=True``), uncached."""
    card, zoo_entry = model_card(key), entry(key)
    device = device or default_device()
    module = zoo_entry.build()
    weights.apply_state_dict(module, zoo_entry.adapt(weights.read_state_dict(source)), card.label)
    return LoadedModel(key, card, _ready(module, device, card.crop_size), True, name, device, zoo_entry.transforms())


def copy_module(model: LoadedModel) -> nn.Module:
    """A private deep copy of a cached model, safe to train or modify."""
    with model.lock:
        return copy.deepcopy(model.module)


def private_view(model: LoadedModel) -> nn.Module:
    """A copy of the model's module tree that shares its weights (no memory copied).

    Hooks added to the view never reach other sessions' forward passes. The weights are the
    shared tensors: never modify them in place; to change one, assign a new ``nn.Parameter``.
    """
    with model.lock:
        memo = {id(t): t for t in itertools.chain(model.module.parameters(), model.module.buffers())}
        return copy.deepcopy(model.module, memo)
