"""Frozen-backbone training on hymenoptera: ConvLens's run end to end vs a PyTorch-tutorial loop.

Ours: a real run through :mod:`core.transfer.supervisor` (worker process, images decoded once,
backbone features computed once, the head trained on them, everything written to the run
folder). Peer: the loop of PyTorch's transfer-learning tutorial (``ImageFolder`` decoding
and transforming every image every epoch, the frozen backbone run every epoch, batch 4).
Same data, model, input size and epochs, measured in the same process run.

ResNet-18 uses random weights here: ImageNet weights cannot be downloaded on these machines,
so the accuracies only show that both loops learn the same way, not what pretraining gives.

    .venv/bin/python -m bench.transfer [epochs]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torchvision import datasets, transforms
from torchvision.models import ResNet18_Weights, resnet18

from bench.common import Row, table
from core.transfer import supervisor as run_manager
from core.transfer.records import RunConfig
from core.transfer.strategies import FEATURE_EXTRACTION, TrainSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera_data"
SIZE = 224


def ours(epochs: int) -> tuple[float, float]:
    """Seconds from the start button to a finished run, and the best validation accuracy."""
    settings = TrainSettings(epochs=epochs, batch_size=16, image_size=SIZE, lr=0.01)
    config = RunConfig(str(DATA), "resnet18", False, (FEATURE_EXTRACTION.key,), settings)
    start = time.perf_counter()
    record = run_manager.wait(run_manager.start_run(config, owner="bench"), timeout=3600)
    seconds = time.perf_counter() - start
    assert record.status.state == "done", record.status.message
    return seconds, record.strategies[FEATURE_EXTRACTION.key].best.accuracy


def tutorial(epochs: int) -> tuple[float, float]:
    """The tutorial's ``train_model`` for ``model_conv``: decode and run the backbone every epoch."""
    preset = ResNet18_Weights.IMAGENET1K_V1.transforms()
    normalize = transforms.Normalize(preset.mean, preset.std)
    steps = {
        "train": transforms.Compose(
            [transforms.RandomResizedCrop(SIZE), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalize]
        ),
        "val": preset,
    }
    loaders = {
        split: torch.utils.data.DataLoader(datasets.ImageFolder(DATA / split, steps[split]), batch_size=4, shuffle=True)
        for split in steps
    }
    start = time.perf_counter()
    torch.manual_seed(0)
    model = resnet18(weights=None)
    model.requires_grad_(False)
    model.fc = nn.Linear(model.fc.in_features, 2)
    optimizer = torch.optim.SGD(model.fc.parameters(), lr=0.001, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    best = 0.0
    for _ in range(epochs):
        for split, loader in loaders.items():
            model.train(split == "train")
            correct = 0
            for inputs, labels in loader:
                with torch.set_grad_enabled(split == "train"):
                    outputs = model(inputs)
                    loss = nn.functional.cross_entropy(outputs, labels)
                    if split == "train":
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                correct += int((outputs.argmax(1) == labels).sum())
            if split == "train":
                scheduler.step()
            else:
                best = max(best, correct / len(loader.dataset))
    return time.perf_counter() - start, best


def rows(epochs: int = 5) -> list[Row]:
    """Both loops on hymenoptera (ResNet-18, 224 px, random weights), ``epochs`` each."""
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is missing: this benchmark needs ../shared/data/hymenoptera_data.")
    previous = os.environ.get("CONVLENS_RUNS_DIR")
    with tempfile.TemporaryDirectory() as home:
        os.environ["CONVLENS_RUNS_DIR"] = str(Path(home) / "runs")  # the worker inherits it
        try:
            our_seconds, our_acc = ours(epochs)
        finally:
            os.environ.pop("CONVLENS_RUNS_DIR")
            if previous is not None:
                os.environ["CONVLENS_RUNS_DIR"] = previous
    peer_seconds, peer_acc = tutorial(epochs)
    what = f"frozen ResNet-18, hymenoptera, {SIZE} px, {epochs} epochs, random weights"
    return [
        Row(f"{what}: end to end", our_seconds, "PyTorch tutorial loop", peer_seconds, "<= 60 s", "s"),
        Row(f"{what}: best val accuracy", our_acc * 100, "PyTorch tutorial loop", peer_acc * 100, "learns too", "%"),
    ]


if __name__ == "__main__":
    print(table(rows(int(sys.argv[1]) if len(sys.argv) > 1 else 5)))
