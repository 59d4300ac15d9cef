"""The model zoo: which architectures ConvLens offers, and what is known about each.

Metadata (parameters, GFLOPs, ImageNet accuracy, file size, categories, transforms) comes
from torchvision's weights enums (``torchvision.models.get_model_weights``), never typed by
hand. The enums carry it even when the weights themselves are not downloaded.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision import models as tvm
from torchvision.models._meta import _IMAGENET_CATEGORIES

from core.models import classroom, efficientnet_lite


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


_TORCHVISION = [
    ZooEntry(
        "alexnet",
        "AlexNet",
        "AlexNet",
        2012,
        "The network that started the deep-learning era: big kernels, ReLU, dropout.",
        "AlexNet_Weights.IMAGENET1K_V1",
    ),
    ZooEntry(
        "vgg16",
        "VGG-16",
        "VGG",
        2014,
        "Depth from small 3x3 convolutions only: simple, deep and very heavy.",
        "VGG16_Weights.IMAGENET1K_V1",
    ),
    ZooEntry(
        "resnet18",
        "ResNet-18",
        "ResNet",
        2015,
        "Residual (skip) connections make deep networks trainable.",
        "ResNet18_Weights.IMAGENET1K_V1",
    ),
    ZooEntry(
        "resnet50",
        "ResNet-50",
        "ResNet",
        2015,
        "Bottleneck blocks (1x1, 3x3, 1x1) make a deeper ResNet affordable.",
        "ResNet50_Weights.IMAGENET1K_V2",
    ),
    ZooEntry(
        "densenet121",
        "DenseNet-121",
        "DenseNet",
        2017,
        "Each layer sees the feature maps of all layers before it in its block.",
        "DenseNet121_Weights.IMAGENET1K_V1",
    ),
    ZooEntry(
        "mobilenet_v2",
        "MobileNetV2",
        "MobileNet",
        2018,
        "Depthwise-separable convolutions in inverted residual blocks: made for phones.",
        "MobileNet_V2_Weights.IMAGENET1K_V2",
    ),
    ZooEntry(
        "mobilenet_v3_small",
        "MobileNetV3-Small",
        "MobileNet",
        2019,
        "Architecture search plus squeeze-and-excitation, for the smallest devices.",
        "MobileNet_V3_Small_Weights.IMAGENET1K_V1",
    ),
    ZooEntry(
        "mobilenet_v3_large",
        "MobileNetV3-Large",
        "MobileNet",
        2019,
        "The larger MobileNetV3: more accurate at a still tiny cost.",
        "MobileNet_V3_Large_Weights.IMAGENET1K_V2",
    ),
    ZooEntry(
        "efficientnet_b0",
        "EfficientNet-B0",
        "EfficientNet",
        2019,
        "Width, depth and resolution scaled together; MBConv blocks with squeeze-and-excitation.",
        "EfficientNet_B0_Weights.IMAGENET1K_V1",
    ),
    ZooEntry(
        "regnet_y_400mf",
        "RegNetY-400MF",
        "RegNet",
        2020,
        "A design space searched for simple, regular networks that scale well.",
        "RegNet_Y_400MF_Weights.IMAGENET1K_V2",
    ),
    ZooEntry(
        "convnext_tiny",
        "ConvNeXt-Tiny",
        "ConvNeXt",
        2022,
        "A plain CNN modernised with ideas from vision transformers (7x7 depthwise, LayerNorm).",
        "ConvNeXt_Tiny_Weights.IMAGENET1K_V1",
    ),
]


def multiply_adds(model: nn.Module, size: int) -> int:
    """Multiply-adds of one forward pass on a ``size`` x ``size`` image (torchvision's "GFLOPs" count these)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() // 2


def _bundled_card(zoo_entry: ZooEntry, weights: Path | None, sizes: tuple[int, int], **known) -> ModelCard:
    """The card of a model torchvision does not know: counted on its build, ``known`` gives the rest.

    ``weights`` is the checkpoint that ships with ConvLens (None when absent), ``sizes`` the
    crop and resize sizes; ``known`` holds ``top1``, ``top5``, ``dataset`` and ``categories``.
    """
    model = zoo_entry.build().eval()
    return ModelCard(
        key=zoo_entry.key,
        label=zoo_entry.label,
        family=zoo_entry.family,
        year=zoo_entry.year,
        idea=zoo_entry.idea,
        params=sum(p.numel() for p in model.parameters()),
        gflops=multiply_adds(model, sizes[0]) / 1e9,
        file_mb=weights.stat().st_size / 2**20 if weights is not None and weights.is_file() else None,
        weights_file=weights.name if weights is not None else None,
        weights_url=None,
        crop_size=sizes[0],
        resize_size=sizes[1],
        bundled_weights=weights,
        **known,
    )


def _classroom_card(zoo_entry: ZooEntry) -> ModelCard:
    """The classroom model's card, from what its training script recorded (``metadata.json``)."""
    meta = classroom.metadata()
    size = int(meta["image_size"])
    known = {"top1": meta["val_top1"], "top5": meta["val_top5"], "categories": tuple(meta["classes"])}
    return _bundled_card(zoo_entry, classroom.WEIGHTS_PATH, (size, size), dataset="ConvLens shapes", **known)


def _efficientnet_lite_card(zoo_entry: ZooEntry) -> ModelCard:
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


_CLASSROOM = ZooEntry(
    classroom.KEY,
    "Tiny VGG (classroom)",
    "Tiny VGG",
    2020,
    "CNN Explainer's pocket VGG, trained by ConvLens on generated shapes: ships with the app, needs no download.",
    builder=classroom.build,
    transforms_fn=classroom.transforms,
    card_fn=_classroom_card,
)
_EFFICIENTNET_LITE = ZooEntry(
    efficientnet_lite.KEY,
    "EfficientNet-Lite0",
    "EfficientNet",
    2020,
    "EfficientNet for phones: no squeeze-and-excitation, ReLU6. Its ImageNet weights install with ConvLens.",
    builder=efficientnet_lite.build,
    transforms_fn=efficientnet_lite.transforms,
    card_fn=_efficientnet_lite_card,
    state_dict_fn=efficientnet_lite.convert_state_dict,
)

# Every model the app offers, in display order: torchvision's, EfficientNet-Lite0, then the classroom model.
ZOO: dict[str, ZooEntry] = {entry.key: entry for entry in [*_TORCHVISION, _EFFICIENTNET_LITE, _CLASSROOM]}
DEFAULT_KEY = "resnet18"


def register(entry: ZooEntry) -> None:
    """Add a model to the zoo while the app runs (tests add tiny ones)."""
    ZOO[entry.key] = entry
    model_card.cache_clear()


def entry(key: str) -> ZooEntry:
    """The zoo entry for ``key``; an unknown key is an error that lists the known ones."""
    try:
        return ZOO[key]
    except KeyError:
        raise ValueError(f"Unknown model {key!r}; choose one of: {', '.join(ZOO)}.") from None


def list_models() -> list[str]:
    """Keys of every zoo model, in display order."""
    return list(ZOO)


@functools.cache
def model_card(key: str) -> ModelCard:
    """The card of ``key`` (cached: cards never change while the app runs)."""
    return entry(key).card()


def zoo_cards() -> list[ModelCard]:
    return [model_card(key) for key in ZOO]


def meta_model(key: str) -> nn.Module:
    """The architecture built on the ``meta`` device: shapes without memory or weights."""
    try:
        with torch.device("meta"):
            return entry(key).build().eval()
    except NotImplementedError:  # builders that compute with tensors (RegNet) need real ones
        return entry(key).build().to("meta").eval()
