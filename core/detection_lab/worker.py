"""One detection run from start to end, as the background worker executes it.

``python -m core.detection_lab.worker <run folder>``, started by :func:`core.transfer.supervisor.launch`.

Copies the dataset into the run folder, then trains each strategy with the same data, seed,
image size and epochs, appending every epoch to ``<strategy>/metrics.json`` as Ultralytics
reports it. Cancel, the time limit, a server that is gone and errors end in a final state
(:func:`core.transfer.worker.main`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

from core.config import limits
from core.detection.training import DetEpoch, TrainingCancelled, train_yolo
from core.detection.yolo_data import copy_for_training, load_det_dataset
from core.detection_lab.runs import DET_STRATEGIES, SCRATCH_YAML, DetRunConfig, start_weights
from core.transfer.loop import Cancelled
from core.transfer.store import RunWriter
from core.transfer.worker import check_server, main
from core.util.files import write_atomic


def _write(path: Path, value: dict) -> None:
    write_atomic(path, json.dumps(value, indent=1).encode())


class StrategyEpochs:
    """Writes a strategy's epochs and progress; stops the run on cancel, over the time limit or without its server."""

    def __init__(self, writer: RunWriter, key: str, index: int, config: DetRunConfig, started: float) -> None:
        self.writer, self.key, self.index, self.config, self.started = writer, key, index, config, started
        self.folder = writer.path / key
        self.folder.mkdir(exist_ok=True)
        self.history: list[dict] = []
        _write(self.folder / "metrics.json", {"history": []})

    def epoch(self, epoch: DetEpoch, _last: Path) -> None:
        self.history.append(dataclasses.asdict(epoch))
        _write(self.folder / "metrics.json", {"history": self.history})
        total = len(self.config.strategies) * self.config.epochs
        done = self.index * self.config.epochs + epoch.epoch
        eta = epoch.seconds / epoch.epoch * (self.config.epochs - epoch.epoch)
        self.writer.status(
            strategy=self.key, phase=f"epoch {epoch.epoch}", done=epoch.epoch, total=self.config.epochs,
            progress=done / total, eta_seconds=eta,
        )  # fmt: skip

    def should_stop(self) -> bool:
        """True when the user cancelled; raises when the server is gone or the time is up."""
        check_server()  # raises ServerGone (the run ends interrupted), through Ultralytics' callback
        elapsed = time.perf_counter() - self.started
        if elapsed > limits.TRAIN_SECONDS.value:
            limits.TRAIN_SECONDS.check(elapsed)
        return self.writer.cancel_requested()

    def finished(self, seconds: float) -> None:
        _write(self.folder / "metrics.json", {"history": self.history, "seconds": seconds})


def train_run(writer: RunWriter) -> str:
    """Train every strategy of the run in ``writer.path``; returns the final message."""
    started = time.perf_counter()
    config = DetRunConfig.from_json(json.loads((writer.path / "config.json").read_text()))
    writer.status(phase="copying the dataset")
    dataset = load_det_dataset(config.dataset)
    data_yaml = copy_for_training(dataset, writer.path / "data")
    _write(
        writer.path / "dataset.json",
        {"classes": list(dataset.classes), "train": len(dataset.train), "val": len(dataset.val)},
    )
    summary = []
    for index, key in enumerate(config.strategies):
        strategy = DET_STRATEGIES[key]
        check_server()
        writer.status(strategy=key, phase="preparing the model", done=0, total=config.epochs)
        epochs = StrategyEpochs(writer, key, index, config, started)
        source = start_weights(config.model) if strategy.pretrained else SCRATCH_YAML
        try:
            result = train_yolo(
                source, data_yaml, writer.path / key, epochs=config.epochs, imgsz=config.imgsz, seed=config.seed,
                batch=config.batch, freeze=strategy.freeze, on_epoch=epochs.epoch, should_stop=epochs.should_stop,
            )  # fmt: skip
        except TrainingCancelled:
            raise Cancelled(f"Cancelled by the user during {strategy.label.lower()}.") from None
        epochs.finished(result.seconds)
        best = max((e.map50 for e in result.history), default=0.0)
        summary.append(f"{strategy.label} mAP50 {best:.3f}")
    return "Best val mAP50: " + "; ".join(summary) + "."


if __name__ == "__main__":
    main(train_run)
