"""The training loop shared by every strategy, with cached features and cancel between batches.

Feature extraction runs the frozen backbone once over every image and trains the head on
the cached features (unless augmentation asks for a new view of each image per epoch).
The other strategies train on batches cropped from the decoded-image cache. On a GPU the
loop uses mixed precision (bfloat16 or float16 with gradient scaling), channels_last and
pinned host memory; on a CPU it stays in float32.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from core.config.device import autocast_dtype
from core.datasets.tensors import ImageTensors, Preprocess
from core.errors import ConvLensError
from core.transfer.records import EpochMetrics, Evaluation
from core.transfer.strategies import (
    FEATURE_EXTRACTION,
    MOMENTUM,
    WEIGHT_DECAY,
    Strategy,
    TrainSettings,
    parameter_groups,
    replace_head,
)


class Cancelled(ConvLensError):
    """The user cancelled the run."""


@dataclass(frozen=True)
class StrategyResult:
    """A trained strategy: its history, its best epoch and what it cost."""

    strategy: str
    history: tuple[EpochMetrics, ...]
    best_epoch: int
    best: Evaluation
    trainable_params: int
    seconds: float


class Observer:
    """Receives training events. The default ignores them; ``check`` raises to stop (a cancel)."""

    def check(self) -> None:
        """Called before every batch; raise :class:`Cancelled` (or another error) to stop."""

    def started(self, trainable_params: int) -> None:
        """The model is set up with ``trainable_params`` parameters to learn."""

    def progress(self, phase: str, done: int, total: int) -> None:
        """``done`` of ``total`` steps of ``phase`` ("features", "epoch 3", ...) are finished."""

    def epoch(self, metrics: EpochMetrics, evaluation: Evaluation, improved: bool, module: nn.Module) -> None:
        """An epoch ended; ``improved`` when its validation accuracy is the best so far."""


def _to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    dtype = autocast_dtype(device)
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _prepared(preprocess: Preprocess, device: torch.device) -> Callable[..., torch.Tensor]:
    """Uint8 batch -> network input on ``device`` (random view when given a generator)."""

    def prepare(raw: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = preprocess.batch(_to_device(raw, device), generator)
        return x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x

    return prepare


@contextlib.contextmanager
def _head_input(module: nn.Module, head: str) -> Iterator[list[torch.Tensor]]:
    """Record what the head receives (the backbone's features) during forwards in the block."""
    seen: list[torch.Tensor] = []
    handle = module.get_submodule(head).register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    try:
        yield seen
    finally:
        handle.remove()


def backbone_features(module: nn.Module, head: str, x: torch.Tensor) -> torch.Tensor:
    """The frozen backbone's features for input batch ``x`` (no gradients), as float32."""
    with _head_input(module, head) as seen, torch.no_grad(), _autocast(x.device):
        module(x)
    return seen[-1].float().flatten(1)


def _batches(count: int, size: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    order = torch.randperm(count, generator=generator) if generator is not None else torch.arange(count)
    chunks = list(order.split(size))
    if generator is not None and len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks.pop()  # a batch of one breaks batch normalisation in training mode
    return chunks


def _features(
    module: nn.Module, head: str, images: ImageTensors, prepare: Callable, batch: int, observer: Observer, phase: str
) -> torch.Tensor:
    chunks, found = _batches(len(images), batch), []
    for i, idx in enumerate(chunks, start=1):
        observer.check()
        found.append(backbone_features(module, head, prepare(images.images[idx])))
        observer.progress(phase, i, len(chunks))
    return torch.cat(found)


def validate(
    model: nn.Module,
    inputs: torch.Tensor,
    labels: torch.Tensor,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch: int,
    observer: Observer | None = None,
) -> Evaluation:
    """Loss, accuracy and per-image predictions of ``model`` (in eval mode) on a split."""
    model.eval()
    loss_sum, predictions, confidences = 0.0, [], []
    device = labels.device
    with torch.no_grad():
        for idx in _batches(len(labels), batch):
            if observer is not None:
                observer.check()
            with _autocast(device):
                logits = model(prepare(inputs[idx])).float()
            loss_sum += nn.functional.cross_entropy(logits, labels[idx], reduction="sum").item()
            probs, predicted = logits.softmax(1).max(1)
            predictions += predicted.tolist()
            confidences += probs.tolist()
    correct = sum(int(p == y) for p, y in zip(predictions, labels.tolist(), strict=True))
    return Evaluation(loss_sum / len(labels), correct / len(labels), tuple(predictions), tuple(confidences))


def _same(raw: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return raw


def _pipeline(
    strategy: Strategy,
    module: nn.Module,
    head: str,
    train: ImageTensors,
    val: ImageTensors,
    prepare: Callable[..., torch.Tensor],
    settings: TrainSettings,
    observer: Observer,
) -> tuple[nn.Module, torch.Tensor, Callable, torch.Tensor, Callable]:
    """What to train and on what: (model, train inputs, train preparation, val inputs, val preparation)."""

    def view(raw: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return prepare(raw, generator if settings.augment else None)

    if strategy.key != FEATURE_EXTRACTION.key:
        return module, train.images, view, val.images, prepare
    module.eval()
    val_x = _features(module, head, val, prepare, settings.batch_size, observer, "validation features")
    if settings.augment:  # a new random view per epoch: the backbone must run every time

        def through_backbone(raw: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
            return backbone_features(module, head, view(raw, generator))

        return module.get_submodule(head), train.images, through_backbone, val_x, _same
    train_x = _features(module, head, train, prepare, settings.batch_size, observer, "training features")
    return module.get_submodule(head), train_x, _same, val_x, _same


@dataclass(frozen=True)
class _Epoch:
    """What one training epoch needs besides the data."""

    model: nn.Module
    frozen: list[nn.Module]  # blocks kept in eval mode (their batch-norm statistics stay)
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    generator: torch.Generator
    observer: Observer
    phase: str


def _train_epoch(
    run: _Epoch, train_x: torch.Tensor, train_y: torch.Tensor, prepare: Callable, batch: int
) -> tuple[float, float]:
    """One pass over the training data in random batches; returns (mean loss, accuracy)."""
    run.model.train()
    for block in run.frozen:
        block.eval()
    device = train_y.device
    chunks = _batches(len(train_y), batch, run.generator)
    loss_sum, correct, seen = 0.0, 0, 0
    for i, idx in enumerate(chunks, start=1):
        run.observer.check()
        x, y = prepare(train_x[idx], run.generator), train_y[idx]
        with _autocast(device):
            logits = run.model(x).float()
        loss = nn.functional.cross_entropy(logits, y)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        loss_sum += loss.item() * len(y)
        correct += int((logits.argmax(1) == y).sum())
        seen += len(y)
        run.observer.progress(run.phase, i, len(chunks))
    return loss_sum / seen, correct / seen


def _set_up(
    strategy: Strategy, module: nn.Module, num_classes: int, device: torch.device, settings: TrainSettings
) -> tuple[str, list[dict], list[nn.Module]]:
    """Seed, give ``module`` its new head on ``device``; the parameter groups to train and the frozen modules."""
    torch.manual_seed(settings.seed)  # same head initialisation and dropout for every strategy
    head = replace_head(module, num_classes)
    module.to(device)
    if device.type == "cuda":
        module.to(memory_format=torch.channels_last)
    groups, frozen = parameter_groups(strategy, module, head, settings)
    return head, groups, frozen


def _optimiser(
    groups: list[dict], settings: TrainSettings, device: torch.device
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, torch.amp.GradScaler]:
    """SGD with momentum over ``groups``, a cosine schedule over the epochs, a scaler for fp16 autocast."""
    optimizer = torch.optim.SGD(groups, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, settings.epochs)
    scaler = torch.amp.GradScaler(device.type, enabled=autocast_dtype(device) == torch.float16)
    return optimizer, scheduler, scaler


def train_strategy(
    strategy: Strategy,
    module: nn.Module,
    train: ImageTensors,
    val: ImageTensors,
    preprocess: Preprocess,
    settings: TrainSettings,
    num_classes: int,
    device: torch.device,
    observer: Observer | None = None,
) -> StrategyResult:
    """Give ``module`` a new head and train it with ``strategy``; ``module`` is changed in place.

    Args:
        strategy: feature extraction, fine-tuning or the baseline from scratch.
        module: a private copy of the network (never a cached model), on any device.
        train, val: decoded splits (:func:`core.datasets.tensors.decode_split`).
        preprocess: crops and normalisation for the model.
        settings: epochs, batch size, learning rates, augmentation and seed.
        num_classes: outputs of the new head.
        device: where to train.
        observer: receives progress, epochs (to save them) and may cancel between batches.

    Raises:
        Cancelled: (or whatever ``observer.check`` raises) between two batches.
    """
    observer = observer or Observer()
    start = time.perf_counter()
    head, groups, frozen = _set_up(strategy, module, num_classes, device, settings)
    trainable = sum(p.numel() for group in groups for p in group["params"])
    observer.started(trainable)
    train_y, val_y = train.labels.to(device), val.labels.to(device)
    model, train_x, train_prep, val_x, val_prep = _pipeline(
        strategy, module, head, train, val, _prepared(preprocess, device), settings, observer
    )
    optimizer, scheduler, scaler = _optimiser(groups, settings, device)
    generator = torch.Generator().manual_seed(settings.seed)
    history: list[EpochMetrics] = []
    best: tuple[int, Evaluation] | None = None
    for epoch in range(1, settings.epochs + 1):
        train_loss, train_acc = _train_epoch(
            _Epoch(model, frozen, optimizer, scaler, generator, observer, f"epoch {epoch}"),
            train_x,
            train_y,
            train_prep,
            settings.batch_size,
        )
        scheduler.step()
        evaluation = validate(model, val_x, val_y, val_prep, settings.batch_size, observer)
        metrics = EpochMetrics(
            epoch, train_loss, train_acc, evaluation.loss, evaluation.accuracy, time.perf_counter() - start
        )
        history.append(metrics)
        improved = best is None or evaluation.accuracy > best[1].accuracy
        if improved:
            best = (epoch, evaluation)
        observer.epoch(metrics, evaluation, improved, module)
    return StrategyResult(strategy.key, tuple(history), best[0], best[1], trainable, time.perf_counter() - start)
