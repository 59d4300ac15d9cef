"""What is known about one zoo model (its card) and how to build, preprocess and describe it (its entry).

Metadata (parameters, GFLOPs, ImageNet accuracy, file size, categories, transforms) comes
from torchvision's weights enums, never typed by hand; the classroom model's from what its
training script recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn
from torchvision import models as tvm

from core.models import classroom


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
    know (the classroom model) give ``builder``, ``transforms_fn`` and ``card_fn`` instead.
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

    def weights_enum(self) -> tvm.WeightsEnum | None:
        return tvm.get_weight(self.weights) if self.weights else None

    def build(self) -> nn.Module:
        """A fresh model with random weights (PyTorch's default initialisation)."""
        if self.builder is not None:
            return self.builder()
        return tvm.get_model(self.key, weights=None)

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


def classroom_card(zoo_entry: ZooEntry) -> ModelCard:
    """The classroom model's card, from what its training script recorded (``metadata.json``)."""
    meta = classroom.metadata()
    model = classroom.build()
    size = int(meta["image_size"])
    return ModelCard(
        key=zoo_entry.key,
        label=zoo_entry.label,
        family=zoo_entry.family,
        year=zoo_entry.year,
        idea=zoo_entry.idea,
        params=sum(p.numel() for p in model.parameters()),
        gflops=classroom.multiply_adds(model, size) / 1e9,
        top1=meta["val_top1"],
        top5=meta["val_top5"],
        file_mb=classroom.WEIGHTS_PATH.stat().st_size / 2**20 if classroom.WEIGHTS_PATH.is_file() else None,
        dataset="ConvLens shapes",
        categories=tuple(meta["classes"]),
        weights_file=classroom.WEIGHTS_PATH.name,
        weights_url=None,
        crop_size=size,
        resize_size=size,
        bundled_weights=classroom.WEIGHTS_PATH,
    )
