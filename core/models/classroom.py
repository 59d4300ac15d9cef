"""The classroom model: a Tiny VGG that ConvLens trains on its own generated shapes and ships.

It needs no download, so every page shows something learned on a fresh, offline machine:
edge and colour filters, Grad-CAM on the shape, transfer to new shapes. The architecture is
in the spirit of CNN Explainer's Tiny VGG (blocks of conv-ReLU-conv-ReLU-maxpool on a 64x64
image), with a third block, only the first block followed by pooling, and global average
pooling before the linear head, so that each class score adds up evidence from every place
and Grad-CAM's 32x32 map peaks inside the object.
``scripts/train_classroom.py`` trains it; ``assets/classroom/`` holds the result. Importing
this module registers the model in :mod:`core.models.registry` (which imports it).
"""

from __future__ import annotations

import functools
import json
from collections import OrderedDict

import torch
from torch import nn
from torchvision.transforms._presets import ImageClassification

from core.io.assets import ASSETS_DIR

KEY = "tiny_vgg"
CLASSROOM_DIR = ASSETS_DIR / "classroom"
WEIGHTS_PATH = CLASSROOM_DIR / "tiny_vgg_shapes.pt"
METADATA_PATH = CLASSROOM_DIR / "metadata.json"
IMAGE_SIZE = 64
CHANNELS = (16, 16, 32)  # per block
CONVS = (2, 2, 3)  # 3x3 convolutions per block
POOLED_BLOCKS = 1  # the first this many blocks end in 2x2 max-pooling
NUM_CLASSES = 6  # the shipped model's classes: core.datasets.shapes.BASE_CLASSES, listed in metadata.json


class TinyVGG(nn.Module):
    """Three VGG blocks of 3x3 convolutions (``convs``: 2, 2, 3), global average pooling, one linear layer.

    Only the first ``pooled_blocks`` blocks (one by default) end in 2x2 max-pooling; the rest
    keep a 32x32 map, so that Grad-CAM maps stay sharp on a 64x64 image: with two pools (a
    16x16 map) their peak sat on the object's outline, often just outside its box. The third
    convolution of the last block widens what each place of that map sees (26 px), so that
    places inside an object see all of it. ``batch_norm`` adds a BatchNorm after each
    convolution, for training only: the training script folds them into the convolutions, so
    the shipped model has none.
    """

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        channels: tuple[int, ...] = CHANNELS,
        batch_norm: bool = False,
        pooled_blocks: int = POOLED_BLOCKS,
        convs: tuple[int, ...] = CONVS,
    ) -> None:
        super().__init__()
        self.channels = tuple(channels)
        self.convs = tuple(convs)
        self.pooled_blocks = pooled_blocks
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = 3
        for block, (out_channels, count) in enumerate(zip(self.channels, self.convs, strict=True), start=1):
            for conv in range(1, count + 1):
                layers[f"conv_{block}_{conv}"] = nn.Conv2d(in_channels, out_channels, 3, padding=1)
                if batch_norm:
                    layers[f"bn_{block}_{conv}"] = nn.BatchNorm2d(out_channels)
                layers[f"relu_{block}_{conv}"] = nn.ReLU()
                in_channels = out_channels
            if block <= pooled_blocks:
                layers[f"max_pool_{block}"] = nn.MaxPool2d(2)
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@functools.cache
def metadata() -> dict:
    """What the training script recorded: classes, seed, mean/std, accuracy, time, command."""
    return json.loads(METADATA_PATH.read_text())


def build() -> TinyVGG:
    """A classroom model with PyTorch's default (random) initialisation."""
    return TinyVGG(len(metadata()["classes"]))


def transforms() -> ImageClassification:
    """Resize the shorter side to 64, centre-crop 64x64, scale to [0, 1], normalise by the training set's mean/std."""
    meta = metadata()
    size = int(meta["image_size"])
    return ImageClassification(crop_size=size, resize_size=size, mean=tuple(meta["mean"]), std=tuple(meta["std"]))
