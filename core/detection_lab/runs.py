"""The detection lab: frozen backbone against fine-tuning (and from scratch) on a YOLO dataset.

Runs share the classification lab's run store (:mod:`core.transfer.store`: status, heartbeat, cancel,
interrupted detection), supervisor (:func:`core.transfer.supervisor.launch`: worker process, run cap)
and worker frame (:func:`core.transfer.worker.run_job`); :mod:`core.detection_lab.worker` does the training.
A detection run's folder::

    <run>/config.json     {"kind": "detection", ...}
    <run>/status.json     as for classification runs
    <run>/dataset.json    classes and image counts
    <run>/data/           the dataset copied for Ultralytics (its label caches stay here)
    <run>/<strategy>/metrics.json   per-epoch losses and val mAP
    <run>/<strategy>/train/         Ultralytics' run: weights/best.pt, last.pt, results.csv
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from core.config import limits
from core.config.settings import get_settings
from core.detection import classroom as det_classroom
from core.detection.training import BACKBONE_LAYERS, DetEpoch
from core.detection.yolo_data import load_det_dataset
from core.errors import DatasetError, WeightsUnavailable
from core.transfer.store import RunStatus, read_status, settle
from core.transfer.supervisor import launch

KIND = "detection"
CLASSROOM = "classroom"  # the shipped detector as the starting point
SCRATCH_YAML = "yolov8n.yaml"


@dataclass(frozen=True)
class DetStrategy:
    key: str
    label: str
    freeze: int | None  # Ultralytics' ``freeze``: the first this many layers keep their weights
    pretrained: bool


DET_STRATEGIES = {
    s.key: s
    for s in (
        DetStrategy("frozen", "Frozen backbone", BACKBONE_LAYERS, True),
        DetStrategy("finetune", "Fine-tune everything", None, True),
        DetStrategy("scratch", "From scratch", None, False),
    )
}


@dataclass(frozen=True)
class DetRunConfig:
    """What a detection run trains: the same data, seed, image size and epochs for every strategy."""

    dataset: str
    model: str = CLASSROOM  # "classroom" or a .pt file name in the weights folder
    strategies: tuple[str, ...] = ("frozen", "finetune")
    epochs: int = 5
    imgsz: int = 128
    seed: int = 0
    batch: int = 8
    kind: str = KIND

    def __post_init__(self) -> None:
        if not self.strategies or any(s not in DET_STRATEGIES for s in self.strategies):
            raise ValueError(f"strategies must be some of {', '.join(DET_STRATEGIES)}; got {list(self.strategies)}.")
        if self.imgsz < 32 or self.imgsz % 32:
            raise ValueError(f"imgsz must be a multiple of 32 and at least 32, got {self.imgsz}.")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}.")
        limits.EPOCHS.check(self.epochs)
        if self.model != CLASSROOM and (Path(self.model).name != self.model or not self.model.endswith(".pt")):
            raise ValueError(
                f"model must be {CLASSROOM!r} or a .pt file name in the weights folder, got {self.model!r}."
            )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> DetRunConfig:
        return cls(**{**data, "strategies": tuple(data["strategies"])})


def start_weights(model: str) -> Path:
    """The ``.pt`` a pretrained strategy starts from: the shipped detector or a file in the weights folder.

    Raises:
        WeightsUnavailable: the file is not on this machine.
    """
    path = det_classroom.weights_path() if model == CLASSROOM else get_settings().weights_dir / model
    if not path.is_file():
        raise WeightsUnavailable(f"{path.name} is not on this machine (looked in {path.parent}).")
    return path


def pretrained_choices() -> list[str]:
    """Starting points: the classroom detector, then the COCO .pt files in the weights folder."""
    folder = get_settings().weights_dir
    files = sorted(p.name for p in folder.glob("*.pt")) if folder.is_dir() else []
    return [CLASSROOM, *files]


def start_det_run(config: DetRunConfig, owner: str) -> Path:
    """Check the dataset and the starting weights, then start the worker; returns the run folder at once.

    ``owner`` is the starting session's secret token: only it (or the teacher) may cancel the run.

    Raises:
        DatasetError: the dataset cannot be read or has bad label lines (listed with line numbers).
        WeightsUnavailable: the starting weights are missing.
        LimitExceeded: as many runs as the server allows are training.
        RunsDiskFull: the disk holding the runs folder is full.
        ValueError: ``owner`` is empty.
    """
    if not owner:
        raise ValueError("owner is empty: pass the session's token so that only it can cancel the run.")
    dataset = load_det_dataset(config.dataset)
    if dataset.issues:
        raise DatasetError(f"Fix these label problems before training: {'; '.join(dataset.issues[:5])}.")
    if any(DET_STRATEGIES[s].pretrained for s in config.strategies):
        start_weights(config.model)
    return launch(config, owner, "core.detection_lab.worker")


@dataclass(frozen=True)
class DetStrategyRecord:
    key: str
    history: tuple[DetEpoch, ...]
    seconds: float | None
    best: Path | None

    @property
    def last_good_epoch(self) -> int:
        return len(self.history)


@dataclass(frozen=True)
class DetRunRecord:
    run_id: str
    path: Path
    config: DetRunConfig
    status: RunStatus
    strategies: dict[str, DetStrategyRecord]
    classes: tuple[str, ...]


def _strategy(folder: Path) -> DetStrategyRecord:
    data = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    best = folder / "train" / "weights" / "best.pt"
    history = tuple(DetEpoch(**row) for row in data.get("history", []))
    return DetStrategyRecord(folder.name, history, data.get("seconds"), best if best.is_file() and history else None)


def read_det_run(path: str | Path) -> DetRunRecord:
    """Read a detection run; an active run whose worker is gone is marked interrupted on disk."""
    path = Path(path)
    config = DetRunConfig.from_json(json.loads((path / "config.json").read_text()))
    classes = ()
    if (path / "dataset.json").is_file():
        classes = tuple(json.loads((path / "dataset.json").read_text())["classes"])
    strategies = {k: _strategy(path / k) for k in config.strategies if (path / k).is_dir()}
    done = [f"{DET_STRATEGIES[s.key].label} at epoch {s.last_good_epoch}" for s in strategies.values() if s.history]
    return DetRunRecord(path.name, path, config, settle(path, read_status(path), done), strategies, classes)


def list_det_runs(runs_dir: Path | None = None) -> list[DetRunRecord]:
    """Every detection run, newest first (classification runs and other folders are left out)."""
    runs_dir = runs_dir or get_settings().runs_dir
    found = []
    for path in sorted(runs_dir.iterdir(), reverse=True) if runs_dir.is_dir() else []:
        try:
            if json.loads((path / "config.json").read_text()).get("kind") == KIND:
                found.append(read_det_run(path))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue
    return found
