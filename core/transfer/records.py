"""What a training run is made of, as frozen dataclasses: its config, status, epochs and records.

Shared by the training loop (which produces epochs and evaluations) and the run store (which
writes and reads them), so the store never imports the loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from core.transfer.strategies import STRATEGIES, TrainSettings

ACTIVE = ("starting", "running")  # the final states: done, cancelled, stopped, failed, interrupted


class RunFolderConfig(Protocol):
    """What any kind of run (this lab's or the detection lab's) tells the store: names its folder, saved as JSON."""

    @property
    def dataset(self) -> str: ...

    @property
    def model(self) -> str: ...

    def to_json(self) -> dict: ...


@dataclass(frozen=True)
class EpochMetrics:
    """One epoch of one strategy; ``seconds`` counts from the strategy's start."""

    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass(frozen=True)
class Evaluation:
    """Validation loss and accuracy, with the predicted class and its probability per image."""

    loss: float
    accuracy: float
    predictions: tuple[int, ...]
    confidences: tuple[float, ...]


@dataclass(frozen=True)
class RunConfig:
    """What a run trains: the dataset folder, the zoo model and its weights, the strategies."""

    dataset: str
    model: str
    pretrained: bool
    strategies: tuple[str, ...]
    train: TrainSettings = field(default_factory=TrainSettings)
    val_ratio: float = 0.2

    def __post_init__(self) -> None:
        if not self.strategies:
            labels = ", ".join(s.label for s in STRATEGIES.values())
            raise ValueError(f"strategies is empty: choose at least one of {labels}.")
        if unknown := [s for s in self.strategies if s not in STRATEGIES]:
            raise ValueError(f"unknown strategies {unknown}; use some of {', '.join(STRATEGIES)}.")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> RunConfig:
        return cls(**{**data, "strategies": tuple(data["strategies"]), "train": TrainSettings(**data["train"])})


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands. ``progress`` is overall (0 to 1); ``eta_seconds`` is for the current strategy."""

    state: str
    pid: int | None = None
    heartbeat: float = 0.0
    started: float = 0.0
    finished: float | None = None
    strategy: str | None = None
    phase: str = ""
    done: int = 0
    total: int = 0
    progress: float = 0.0
    eta_seconds: float | None = None
    message: str = ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


@dataclass(frozen=True)
class BestEpoch:
    """The checkpointed epoch of a strategy and its validation predictions."""

    epoch: int
    accuracy: float
    predictions: tuple[int, ...]
    confidences: tuple[float, ...]


@dataclass(frozen=True)
class StrategyRecord:
    """A strategy's history so far, its best epoch and checkpoint."""

    key: str
    history: tuple[EpochMetrics, ...]
    trainable_params: int | None
    seconds: float | None
    best: BestEpoch | None
    checkpoint: Path | None

    @property
    def last_good_epoch(self) -> int:
        return len(self.history)


@dataclass(frozen=True)
class DatasetSnapshot:
    """The data a run used: class names, the split (paths relative to ``root``) and skipped files."""

    root: str
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]
    val: tuple[tuple[str, int], ...]
    skipped: tuple[tuple[str, str], ...]

    def val_path(self, index: int) -> Path:
        return Path(self.root) / self.val[index][0]


@dataclass(frozen=True)
class RunRecord:
    """Everything on disk about one run."""

    run_id: str
    path: Path
    config: RunConfig
    status: RunStatus
    strategies: dict[str, StrategyRecord]
    dataset: DatasetSnapshot | None
