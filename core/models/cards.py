"""What is known about one zoo model (its card) and how to build, preprocess and describe it (its entry).

Metadata (parameters, GFLOPs, ImageNet accuracy, file size, categories, transforms) comes
from torchvision's weights enums, never typed by hand; for the models torchvision does not know
(the classroom model, EfficientNet-Lite0) it is counted on their build or recorded with them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn
from torchvision import models as tvm
from torchvision.models._meta import _IMAGENET_CATEGORIES

from core.models import classroom, efficientnet_lite
from core.models.counts import cached_count


@dataclass(frozen=True)
class ModelCard:
    """Everything the app shows about one zoo model."""

    key: str
    label: str
    family: str
    year: int
    idea: str
    params: int
    gflops: float | None
    top1: float | None
    top5: float | None
    file_mb: float | None
    dataset: str
    categories: tuple[str, ...]
    weights_file: str | None
    weights_url: str | None
    crop_size: int
    resize_size: int
    bundled_weights: Path | None = None  # shipped with ConvLens (no download ever needed)


@dataclass(frozen=True)
class ZooEntry:
    """One architecture: how to build it, its pretrained weights and how to preprocess for it.

    ``weights`` names a torchvision weights enum member. Models that torchvision does not
    know (the classroom model, EfficientNet-Lite0) give ``builder``, ``transforms_fn`` and
    ``card_fn`` instead, and ``state_dict_fn`` when a published checkpoint names its keys differently.
    """

    key: str
    label: str
    family: str
    year: int
    idea: str
    weights: str | None = None
    builder: Callable[[], nn.Module] | None = field(default=None, compare=False)
    transforms_fn: Callable[[], Callable] | None = field(default=None, compare=False)
    card_fn: Callable[[ZooEntry], ModelCard] | None = field(default=None, compare=False)
    # renames a published checkpoint's keys to the architecture's (weights saved elsewhere)
    state_dict_fn: Callable[[dict], dict] | None = field(default=None, compare=False)

    def weights_enum(self) -> tvm.WeightsEnum | None:
        return tvm.get_weight(self.weights) if self.weights else None

    def build(self) -> nn.Module:
        """A fresh model with random weights (PyTorch's default initialisation)."""
        if self.builder is not None:
            return self.builder()
        return tvm.get_model(self.key, weights=None)

    def adapt(self, state_dict: dict) -> dict:
        """``state_dict`` with its keys in this architecture's names (unchanged for most models)."""
        return self.state_dict_fn(state_dict) if self.state_dict_fn is not None else state_dict

    def transforms(self) -> Callable:
        """The preprocessing that turns a PIL image into the model's input tensor."""
        if self.transforms_fn is not None:
            return self.transforms_fn()
        return self.weights_enum().transforms()

    def card(self) -> ModelCard:
        if self.card_fn is not None:
            return self.card_fn(self)
        weights = self.weights_enum()
        meta = weights.meta
        metrics = meta.get("_metrics", {}).get("ImageNet-1K", {})
        preset = weights.transforms()
        return ModelCard(
            key=self.key,
            label=self.label,
            family=self.family,
            year=self.year,
            idea=self.idea,
            params=int(meta["num_params"]),
            gflops=meta.get("_ops"),
            top1=metrics.get("acc@1"),
            top5=metrics.get("acc@5"),
            file_mb=meta.get("_file_size"),
            dataset="ImageNet-1K",
            categories=tuple(meta["categories"]),
            weights_file=Path(weights.url).name,
            weights_url=weights.url,
            crop_size=int(preset.crop_size[0]),
            resize_size=int(preset.resize_size[0]),
        )


def _bundled_card(zoo_entry: ZooEntry, weights: Path | None, sizes: tuple[int, int], **known) -> ModelCard:
    """The card of a model torchvision does not know: counted on its build, ``known`` gives the rest.

    ``weights`` is the checkpoint that ships with ConvLens (None when absent), ``sizes`` the
    crop and resize sizes; ``known`` holds ``top1``, ``top5``, ``dataset`` and ``categories``.
    Parameters and multiply-adds are counted once (a CPU forward), then read from disk
    (:mod:`core.models.counts`).
    """
    params, madds = cached_count(zoo_entry.key, zoo_entry.build, weights, sizes[0])
    return ModelCard(
        key=zoo_entry.key,
        label=zoo_entry.label,
        family=zoo_entry.family,
        year=zoo_entry.year,
        idea=zoo_entry.idea,
        params=params,
        gflops=madds / 1e9,
        file_mb=weights.stat().st_size / 2**20 if weights is not None and weights.is_file() else None,
        weights_file=weights.name if weights is not None else None,
        weights_url=None,
        crop_size=sizes[0],
        resize_size=sizes[1],
        bundled_weights=weights,
        **known,
    )


def classroom_card(zoo_entry: ZooEntry) -> ModelCard:
    """The classroom model's card, from what its training script recorded (``metadata.json``)."""
    meta = classroom.metadata()
    size = int(meta["image_size"])
    known = {"top1": meta["val_top1"], "top5": meta["val_top5"], "categories": tuple(meta["classes"])}
    return _bundled_card(zoo_entry, classroom.WEIGHTS_PATH, (size, size), dataset="ConvLens shapes", **known)


def efficientnet_lite_card(zoo_entry: ZooEntry) -> ModelCard:
    """EfficientNet-Lite0's card: Google's published top-1, weights from the installed package."""
    card = _bundled_card(
        zoo_entry,
        efficientnet_lite.weights_path(),
        (efficientnet_lite.CROP, efficientnet_lite.RESIZE),
        top1=efficientnet_lite.TOP1,
        top5=None,
        dataset="ImageNet-1K",
        categories=tuple(_IMAGENET_CATEGORIES),
    )
    return dataclasses.replace(card, weights_file=efficientnet_lite.WEIGHTS_FILE)
