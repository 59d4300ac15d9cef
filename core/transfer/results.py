"""What a finished (or interrupted) run shows: the comparison table, confusion matrices,
misclassified images, and Grad-CAM of the trained models side by side.

Everything is read from the run folder (:mod:`core.transfer.store`), so past runs can be reopened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from core.config.device import default_device
from core.datasets.tensors import Preprocess
from core.errors import DatasetError
from core.explain import gradcam as attribution
from core.models import registry as zoo
from core.models import weights
from core.transfer.store import RunRecord, StrategyRecord
from core.transfer.strategies import STRATEGIES, replace_head
from core.viz import render


@dataclass(frozen=True)
class ComparisonRow:
    """One strategy's line in the comparison table."""

    strategy: str
    label: str
    best_val_acc: float | None
    best_epoch: int | None
    final_val_acc: float | None
    trainable_params: int | None
    seconds: float | None
    epochs: int


def comparison(record: RunRecord) -> list[ComparisonRow]:
    """A row per strategy that has started, in the run's order."""
    rows = []
    for key, strategy in record.strategies.items():
        history = strategy.history
        seconds = strategy.seconds if strategy.seconds is not None else (history[-1].seconds if history else None)
        rows.append(
            ComparisonRow(
                strategy=key,
                label=STRATEGIES[key].label,
                best_val_acc=strategy.best.accuracy if strategy.best else None,
                best_epoch=strategy.best.epoch if strategy.best else None,
                final_val_acc=history[-1].val_acc if history else None,
                trainable_params=strategy.trainable_params,
                seconds=seconds,
                epochs=len(history),
            )
        )
    return rows


def _labels(record: RunRecord) -> np.ndarray:
    if record.dataset is None:
        raise DatasetError(f"Run {record.run_id} stopped before its dataset was decoded: there is nothing to show.")
    return np.array([label for _path, label in record.dataset.val], dtype=np.int64)


def confusion(record: RunRecord, strategy: StrategyRecord) -> np.ndarray:
    """Counts (true class, predicted class) of the strategy's best epoch on validation."""
    truth, size = _labels(record), len(record.dataset.classes)
    matrix = np.zeros((size, size), dtype=np.int64)
    np.add.at(matrix, (truth, np.asarray(strategy.best.predictions, dtype=np.int64)), 1)
    return matrix


@dataclass(frozen=True)
class Mistake:
    """A validation image a strategy got wrong at its best epoch."""

    index: int
    path: Path
    true: str
    predicted: str
    confidence: float


def mistakes(record: RunRecord, strategy: StrategyRecord) -> list[Mistake]:
    """The strategy's misclassified validation images, most confident mistakes first."""
    truth, classes = _labels(record), record.dataset.classes
    wrong = [
        Mistake(i, record.dataset.val_path(i), classes[truth[i]], classes[p], strategy.best.confidences[i])
        for i, p in enumerate(strategy.best.predictions)
        if p != truth[i]
    ]
    return sorted(wrong, key=lambda m: -m.confidence)


def preprocess(record: RunRecord) -> Preprocess:
    """The crops and normalisation the run trained with."""
    return Preprocess.for_model(zoo.entry(record.config.model).transforms(), record.config.train.image_size)


def trained_module(record: RunRecord, strategy: StrategyRecord, device: torch.device | None = None) -> nn.Module:
    """The strategy's best checkpoint in a fresh module (read with ``weights_only=True``), in eval mode."""
    if strategy.checkpoint is None:
        raise DatasetError(f"{STRATEGIES[strategy.key].label} has no checkpoint yet: no epoch finished.")
    module = zoo.entry(record.config.model).build()
    replace_head(module, len(record.dataset.classes))
    weights.apply_state_dict(module, weights.read_state_dict(strategy.checkpoint), STRATEGIES[strategy.key].label)
    return module.eval().to(device or default_device())


@dataclass(frozen=True)
class Explanation:
    """Grad-CAM of one trained strategy on one validation image."""

    strategy: str
    predicted: str
    probability: float
    target: str
    heatmap: np.ndarray  # (H, W) in [0, 1]
    overlay: Image.Image


def explain(
    record: RunRecord, index: int, modules: dict[str, nn.Module], true_class: bool = False
) -> tuple[Image.Image, list[Explanation]]:
    """Grad-CAM of each trained module on validation image ``index``, at its default layer.

    Args:
        record: the run.
        index: position of the image in the run's validation split.
        modules: trained modules by strategy key (:func:`trained_module`).
        true_class: explain the true class; by default each model's own prediction.

    Returns:
        The image as the networks saw it (centre crop) and one explanation per strategy.
    """
    prep, truth = preprocess(record), int(_labels(record)[index])
    pixels = prep.decode(record.dataset.val_path(index))
    view, image = prep.batch(pixels[None]), prep.picture(pixels)
    classes, found = record.dataset.classes, []
    for key, module in modules.items():
        batch = view.to(next(module.parameters()).device)
        with torch.no_grad():
            probs = module(batch).float().softmax(1)[0]
        predicted = int(probs.argmax())
        target = truth if true_class else predicted
        heat = attribution.grad_cam(module, batch, [target], attribution.default_layer(module, size=prep.size))[0]
        found.append(
            Explanation(
                key, classes[predicted], float(probs[predicted]), classes[target], heat, render.overlay(image, heat)
            )
        )
    return image, found


@dataclass(frozen=True)
class RunOverview:
    """One line of the past-runs table."""

    run_id: str
    state: str
    model: str
    dataset: str
    epochs: int
    best: dict[str, float]  # best validation accuracy by strategy label


def overview(record: RunRecord) -> RunOverview:
    """What the past-runs table shows about ``record``."""
    config = record.config
    weights_label = "pretrained" if config.pretrained else "random weights"
    return RunOverview(
        run_id=record.run_id,
        state=record.status.state,
        model=f"{zoo.model_card(config.model).label} ({weights_label})",
        dataset=Path(config.dataset).name,
        epochs=config.train.epochs,
        best={STRATEGIES[k].label: s.best.accuracy for k, s in record.strategies.items() if s.best},
    )
