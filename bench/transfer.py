"""Transfer training on hymenoptera: ConvLens's run end to end vs a PyTorch-tutorial loop.

Ours: a real run through :mod:`core.transfer.supervisor` (worker process, images decoded once,
backbone features computed once, the head trained on them, everything written to the run
folder). Peer: the loop of PyTorch's transfer-learning tutorial (``ImageFolder`` decoding
and transforming every image every epoch, the frozen backbone run every epoch, batch 4).
Same data, model, input size and epochs, measured in the same process run. Fine-tuning
(``fine_tuning``) trains the whole network in both loops (the tutorial's ``model_ft``).

Pretrained weights when they are on this machine: EfficientNet-Lite0's always are (they
install with ConvLens), so its accuracies show what pretraining gives. ResNet-18's ImageNet
weights cannot be downloaded on these machines: with random weights, its accuracies only show
that both loops learn the same way.

    .venv/bin/python -m bench.transfer [epochs] [model] [feature_extraction|fine_tuning]
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torchvision import datasets, transforms

from bench.common import Row, table
from core.models import registry as zoo
from core.models.loading import get_model
from core.models.weights import locate
from core.transfer import supervisor as run_manager
from core.transfer.store import RunConfig
from core.transfer.strategies import FEATURE_EXTRACTION, STRATEGIES, TrainSettings, replace_head

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hymenoptera_data"
SIZE = 224


def _pretrained(key: str) -> bool:
    return locate(zoo.model_card(key)).available


def ours(epochs: int, key: str = "resnet18", strategy: str = FEATURE_EXTRACTION.key) -> tuple[float, float]:
    """Seconds from the start button to a finished run, and the best validation accuracy."""
    settings = TrainSettings(epochs=epochs, batch_size=16, image_size=SIZE, lr=0.01)
    config = RunConfig(str(DATA), key, _pretrained(key), (strategy,), settings)
    start = time.perf_counter()
    record = run_manager.wait(run_manager.start_run(config, owner="bench"), timeout=3600)
    seconds = time.perf_counter() - start
    assert record.status.state == "done", record.status.message
    return seconds, record.strategies[strategy].best.accuracy


def tutorial(epochs: int, key: str = "resnet18", strategy: str = FEATURE_EXTRACTION.key) -> tuple[float, float]:
    """The tutorial's ``train_model`` for ``model_conv`` (frozen) or ``model_ft`` (fine-tuned): every
    image decoded and transformed, the whole backbone run, every epoch."""
    preset = zoo.entry(key).transforms()
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
    model = copy.deepcopy(get_model(key, pretrained=_pretrained(key), device=torch.device("cpu")).module)
    frozen = strategy == FEATURE_EXTRACTION.key
    model.requires_grad_(not frozen)
    head = model.get_submodule(replace_head(model, 2))
    optimizer = torch.optim.SGD((head if frozen else model).parameters(), lr=0.001, momentum=0.9)
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


def rows(epochs: int = 5, key: str = "resnet18", strategy: str = FEATURE_EXTRACTION.key) -> list[Row]:
    """Both loops on hymenoptera (224 px), ``epochs`` each, with ``key``'s pretrained weights when here."""
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is missing: this benchmark needs ../shared/data/hymenoptera_data.")
    previous = os.environ.get("CONVLENS_RUNS_DIR")
    with tempfile.TemporaryDirectory() as home:
        os.environ["CONVLENS_RUNS_DIR"] = str(Path(home) / "runs")  # the worker inherits it
        try:
            our_seconds, our_acc = ours(epochs, key, strategy)
        finally:
            os.environ.pop("CONVLENS_RUNS_DIR")
            if previous is not None:
                os.environ["CONVLENS_RUNS_DIR"] = previous
    peer_seconds, peer_acc = tutorial(epochs, key, strategy)
    weights = "ImageNet weights" if _pretrained(key) else "random weights"
    label = f"{STRATEGIES[strategy].label}, {zoo.model_card(key).label}"
    what = f"{label}, hymenoptera, {SIZE} px, {epochs} epochs, {weights}"
    return [
        Row(f"{what}: end to end", our_seconds, "PyTorch tutorial loop", peer_seconds, "<= 60 s", "s"),
        Row(f"{what}: best val accuracy", our_acc * 100, "PyTorch tutorial loop", peer_acc * 100, "learns too", "%"),
    ]


if __name__ == "__main__":
    args = sys.argv[1:]
    print(table(rows(int(args[0]) if args else 5, *args[1:3])))
