"""A tiny CNN for fast transfer-learning tests, and a way to register it in the zoo for a test."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torchvision.transforms._presets import ImageClassification

from core.datasets.tensors import ImageTensors, Preprocess
from core.models import registry as zoo
from core.models.loading import MODELS

KEY = "test_tiny_cnn"
PREPROCESS = Preprocess(size=16, resize=18, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class TinyNet(nn.Module):
    """Two conv-BN-ReLU blocks, global pooling and a linear head (like the zoo, at toy size)."""

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.block(self.stem(x))).flatten(1))


def tiny_net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def coloured_split(count: int, classes: int = 2, seed: int = 0) -> ImageTensors:
    """Uint8 images whose dominant channel is their class, with noise: separable, not trivial."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % classes
    images = torch.randint(0, 150, (count, 3, PREPROCESS.resize, PREPROCESS.resize), generator=generator)
    images[torch.arange(count), labels] += 100
    return ImageTensors(images.to(torch.uint8), labels, tuple(Path(f"img{i}.png") for i in range(count)), ())


def _card(entry: zoo.ZooEntry) -> zoo.ModelCard:
    return zoo.ModelCard(
        entry.key, "Tiny test CNN", "Test", 2026, "A toy CNN for tests.", 1000, None, None, None, None,
        "none", (), None, None, PREPROCESS.size, PREPROCESS.resize,
    )  # fmt: skip


@contextlib.contextmanager
def registered() -> Iterator[str]:
    """Register :class:`TinyNet` in the zoo (this process only) and remove it afterwards."""

    def transforms() -> ImageClassification:
        return ImageClassification(
            crop_size=PREPROCESS.size, resize_size=PREPROCESS.resize, mean=PREPROCESS.mean, std=PREPROCESS.std
        )

    zoo.register(
        zoo.ZooEntry(
            KEY, "Tiny test CNN", "Test", 2026, "toy", builder=TinyNet, transforms_fn=transforms, card_fn=_card
        )
    )
    try:
        yield KEY
    finally:
        zoo.ZOO.pop(KEY, None)
        zoo.model_card.cache_clear()
        MODELS.clear()
