"""Train an Ultralytics YOLO detector offline, with every file inside one folder and a report per epoch.

Ultralytics' trainer is made to stay offline and inside ``out_dir``: no plots (they would fetch
``Arial.ttf``), its font check switched off while training (:func:`offline_training`), AMP off
(its check downloads weights), no dataloader worker processes, ``project=out_dir``. The data
is read from a ``data.yaml`` that ConvLens wrote itself (absolute paths, no ``download`` key).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.detection.yolo import ultralytics_module

BACKBONE_LAYERS = 10  # YOLOv8 / YOLO11: layers 0-9 are the backbone; ``freeze=10`` freezes them


_INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")


class TrainingCancelled(Exception):
    """The caller's ``should_stop`` said stop; raised from inside Ultralytics' batch loop."""


@dataclass(frozen=True)
class DetEpoch:
    """One epoch of a detection run: mean training losses and validation mAP."""

    epoch: int  # 1-based
    box_loss: float
    cls_loss: float
    dfl_loss: float
    map50: float
    map50_95: float
    seconds: float  # since training started


@dataclass(frozen=True)
class DetTrainResult:
    """What a finished training left: its epochs and the best weights."""

    history: tuple[DetEpoch, ...]
    best: Path
    last: Path
    seconds: float


@contextmanager
def offline_training() -> Iterator[None]:
    """Switch off Ultralytics' font download (``check_det_dataset`` fetches Arial.ttf) and its integrations."""
    ultralytics_module()
    from ultralytics.data import utils as data_utils
    from ultralytics.utils import SETTINGS

    if any(SETTINGS.get(name) for name in _INTEGRATIONS):  # their callbacks log to outside services or warn
        SETTINGS.update(dict.fromkeys(_INTEGRATIONS, False))

    original = data_utils.check_font
    data_utils.check_font = lambda *args, **kwargs: None
    try:
        yield
    finally:
        data_utils.check_font = original


def _epoch(trainer: Any, started: float) -> DetEpoch:
    items = trainer.tloss or {}  # Ultralytics 8.4: running means by loss name ("box", "cls", "dfl")
    losses = [float(v) for v in items.values()] + [float("nan")] * 3 if isinstance(items, dict) else [float("nan")] * 3
    metrics = trainer.metrics or {}
    return DetEpoch(
        epoch=int(trainer.epoch) + 1,
        box_loss=losses[0],
        cls_loss=losses[1],
        dfl_loss=losses[2],
        map50=float(metrics.get("metrics/mAP50(B)", 0.0)),
        map50_95=float(metrics.get("metrics/mAP50-95(B)", 0.0)),
        seconds=time.perf_counter() - started,
    )


def train_yolo(
    source: str | Path,
    data_yaml: Path,
    out_dir: Path,
    *,
    epochs: int,
    imgsz: int,
    seed: int = 0,
    batch: int = 16,
    freeze: int | None = None,
    on_epoch: Callable[[DetEpoch, Path], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: str = "cpu",
    extra: dict[str, Any] | None = None,
) -> DetTrainResult:
    """Train ``source`` (a model yaml such as ``yolov8n.yaml`` or a local ``.pt``) on ``data_yaml``.

    Args:
        on_epoch: called after each epoch's validation with the epoch and the path of ``last.pt``.
        should_stop: polled after every batch; True raises :class:`TrainingCancelled`.
        extra: more Ultralytics training arguments (augmentation, learning rate...).

    Raises:
        TrainingCancelled: ``should_stop`` returned True.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    history: list[DetEpoch] = []
    with offline_training():
        model = ultralytics_module().YOLO(str(source))

        def epoch_end(trainer: Any) -> None:
            if int(trainer.epoch) + 1 > trainer.epochs or (history and history[-1].epoch == int(trainer.epoch) + 1):
                return  # the final validation of best.pt reports again
            history.append(_epoch(trainer, started))
            if on_epoch is not None:
                on_epoch(history[-1], Path(trainer.last))

        def batch_end(trainer: Any) -> None:
            if should_stop is not None and should_stop():
                raise TrainingCancelled("Cancelled by the user.")

        model.add_callback("on_fit_epoch_end", epoch_end)
        model.add_callback("on_train_batch_end", batch_end)
        args = dict(
            data=str(data_yaml), epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, deterministic=True,
            device=device, workers=0, amp=False, plots=False, val=True, project=str(out_dir.resolve()),
            name="train", exist_ok=True, verbose=False, freeze=freeze, save=True,
        )  # fmt: skip
        model.train(**{**args, **(extra or {})})
    weights = out_dir / "train" / "weights"
    return DetTrainResult(tuple(history), weights / "best.pt", weights / "last.pt", time.perf_counter() - started)
