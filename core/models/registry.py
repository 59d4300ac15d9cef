"""The model zoo: which architectures ConvLens offers, and what is known about each.

Metadata (parameters, GFLOPs, ImageNet accuracy, file size, categories, transforms) comes
from torchvision's weights enums (``torchvision.models.get_model_weights``), never typed by
hand. The enums carry it even when the weights themselves are not downloaded.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from core.models import classroom, efficientnet_lite
from core.models.cards import ModelCard, ZooEntry, classroom_card, efficientnet_lite_card

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


_CLASSROOM = ZooEntry(
    classroom.KEY,
    "Tiny VGG (classroom)",
    "Tiny VGG",
    2020,
    "CNN Explainer's pocket VGG, trained by ConvLens on generated shapes: ships with the app, needs no download.",
    builder=classroom.build,
    transforms_fn=classroom.transforms,
    card_fn=classroom_card,
)
_EFFICIENTNET_LITE = ZooEntry(
    efficientnet_lite.KEY,
    "EfficientNet-Lite0",
    "EfficientNet",
    2020,
    "EfficientNet for phones: no squeeze-and-excitation, ReLU6. Its ImageNet weights install with ConvLens.",
    builder=efficientnet_lite.build,
    transforms_fn=efficientnet_lite.transforms,
    card_fn=efficientnet_lite_card,
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
