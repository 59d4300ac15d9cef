"""The run store: every training run is a folder in ``settings.runs_dir``, written as it trains.

::

    <runs_dir>/<run id>/
        config.json            what was asked (dataset, model, strategies, settings)
        status.json            state, worker pid, heartbeat, progress, message
        dataset.json           the split that was used and the files that were skipped
        cancel                 present when the user asked to stop
        <strategy>/metrics.json    per-epoch metrics so far
        <strategy>/best.pt         the best epoch's state_dict
        <strategy>/best.json       the best epoch's validation predictions
        <strategy>/events.out.tfevents.*   TensorBoard (``tensorboard --logdir <runs_dir>``)

JSON files and checkpoints are replaced atomically (temp file + ``os.replace``), so a reader
never sees half a file, and a run killed at any moment is readable at its last good epoch.
A "running" run whose worker is gone (pid dead, or no heartbeat for :data:`STALE_SECONDS`)
is marked interrupted when read.
"""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from core.config.settings import get_settings
from core.transfer.loop import EpochMetrics, Evaluation
from core.transfer.strategies import STRATEGIES, TrainSettings
from core.util.files import write_atomic

ACTIVE = ("starting", "running")  # the final states: done, cancelled, stopped, failed, interrupted
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 30.0
CANCEL_FILE = "cancel"


def _write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=1).encode())


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text())


class RunFolderConfig(Protocol):
    """What any kind of run (this lab's or the detection lab's) tells the store: names its folder, saved as JSON."""

    @property
    def dataset(self) -> str: ...

    @property
    def model(self) -> str: ...

    def to_json(self) -> dict: ...


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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child that its parent has not reaped yet is a zombie: gone all the same
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def worker_gone(status: RunStatus, now: float | None = None) -> bool:
    """True when an active run has no live worker: its pid is dead or its heartbeat is stale."""
    if not status.active:
        return False
    if status.state == "starting" and status.pid is not None:  # importing torch can take longer than STALE_SECONDS
        return not _pid_alive(status.pid)
    stale = (now or time.time()) - status.heartbeat > STALE_SECONDS
    return stale or (status.pid is not None and not _pid_alive(status.pid))


class RunWriter:
    """Writes one run's folder. Thread-safe: a heartbeat thread may write status beside the trainer."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._status = dataclasses.asdict(read_status(self.path)) if (self.path / "status.json").exists() else {}
        self._boards: dict[str, Any] = {}

    @classmethod
    def create(cls, config: RunFolderConfig, runs_dir: Path | None = None) -> RunWriter:
        """Make a new run folder named after the time, model and dataset, with its config."""
        runs_dir = runs_dir or get_settings().runs_dir
        runs_dir.mkdir(parents=True, exist_ok=True)
        slug = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(config.dataset).name)[:40]
        stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{config.model}-{slug}"
        for n in range(1000):
            path = runs_dir / (stem if n == 0 else f"{stem}-{n}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        _write_json(path / "config.json", config.to_json())
        writer = cls(path)
        now = time.time()
        writer.status(state="starting", started=now, heartbeat=now, phase="starting the worker")
        return writer

    def status(self, **changes: Any) -> None:
        """Merge ``changes`` into status.json (with a fresh heartbeat) and write it atomically."""
        with self._lock:
            self._status.update(changes, heartbeat=time.time())
            _write_json(self.path / "status.json", self._status)

    def cancel_requested(self) -> bool:
        return (self.path / CANCEL_FILE).exists()

    def dataset(self, snapshot: DatasetSnapshot) -> None:
        _write_json(self.path / "dataset.json", dataclasses.asdict(snapshot))

    def _folder(self, key: str) -> Path:
        folder = self.path / key
        folder.mkdir(exist_ok=True)
        return folder

    def strategy_started(self, key: str, trainable_params: int) -> None:
        _write_json(self._folder(key) / "metrics.json", {"trainable_params": trainable_params, "history": []})

    def epoch(self, key: str, metrics: EpochMetrics, evaluation: Evaluation, improved: bool, module: nn.Module) -> None:
        """Save an epoch: the checkpoint first when it is the best, then metrics, then TensorBoard."""
        folder = self._folder(key)
        if improved:
            buffer = io.BytesIO()
            torch.save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, buffer)
            write_atomic(folder / "best.pt", buffer.getvalue())
            best = BestEpoch(metrics.epoch, evaluation.accuracy, evaluation.predictions, evaluation.confidences)
            _write_json(folder / "best.json", dataclasses.asdict(best))
        record = _read_json(folder / "metrics.json")
        record["history"].append(dataclasses.asdict(metrics))
        _write_json(folder / "metrics.json", record)
        board = self._board(key)
        for name in ("loss", "acc"):
            board.add_scalar(f"{name}/train", getattr(metrics, f"train_{name}"), metrics.epoch)
            board.add_scalar(f"{name}/val", getattr(metrics, f"val_{name}"), metrics.epoch)
        board.flush()

    def strategy_finished(self, key: str, seconds: float) -> None:
        """Record the strategy's wall time (training, features included)."""
        folder = self._folder(key)
        record = _read_json(folder / "metrics.json")
        _write_json(folder / "metrics.json", {**record, "seconds": seconds})

    def _board(self, key: str) -> Any:
        if key not in self._boards:
            from torch.utils.tensorboard import SummaryWriter  # heavy: imported by workers only

            self._boards[key] = SummaryWriter(log_dir=str(self._folder(key)))
        return self._boards[key]

    def close(self, state: str, message: str = "") -> None:
        """Write the final state and close the TensorBoard writers."""
        for board in self._boards.values():
            board.close()
        self.status(state=state, message=message, finished=time.time(), eta_seconds=None)


def read_config(path: Path) -> RunConfig:
    return RunConfig.from_json(_read_json(Path(path) / "config.json"))


def read_status(path: Path) -> RunStatus:
    data = _read_json(Path(path) / "status.json")
    names = {f.name for f in dataclasses.fields(RunStatus)}
    return RunStatus(**{k: v for k, v in data.items() if k in names})


def _read_strategy(folder: Path) -> StrategyRecord:
    metrics = _read_json(folder / "metrics.json") if (folder / "metrics.json").exists() else {"history": []}
    best = _read_json(folder / "best.json") if (folder / "best.json").exists() else None
    return StrategyRecord(
        key=folder.name,
        history=tuple(EpochMetrics(**row) for row in metrics["history"]),
        trainable_params=metrics.get("trainable_params"),
        seconds=metrics.get("seconds"),
        best=None
        if best is None
        else BestEpoch(**{k: tuple(v) if isinstance(v, list) else v for k, v in best.items()}),
        checkpoint=folder / "best.pt" if (folder / "best.pt").exists() else None,
    )


DISK_FULL = "The disk holding the runs folder is full, so the run could not be saved further. Free space there."


def _log_says_disk_full(path: Path) -> bool:
    try:
        with (path / "worker.log").open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            return b"No space left on device" in log.read()
    except OSError:
        return False


def interrupted_message(path: Path, done: list[str], disk_full: bool = False) -> str:
    """Why an active run of ``path`` has no worker any more; ``done`` lists "<strategy> at epoch <n>"."""
    where = f"; last good epochs: {', '.join(done)}" if done else " before any epoch finished"
    if disk_full or _log_says_disk_full(path):
        return f"The training worker stopped{where}. {DISK_FULL}"
    log = " Its output is in worker.log in the run folder." if (path / "worker.log").is_file() else ""
    return f"The training worker stopped (server restart, crash or kill){where}.{log} Start a new run to train again."


def settle(path: Path, status: RunStatus, done: list[str]) -> RunStatus:
    """``status``, or, when the run is active but its worker is gone, the interrupted state (written to disk).

    A full disk that prevents the write is said in the message; the run stays readable.
    """
    if not (worker_gone(status) and worker_gone(status := read_status(path))):  # it may have just finished
        return status
    final = {"state": "interrupted", "finished": time.time(), "eta_seconds": None}
    try:
        RunWriter(path).status(message=interrupted_message(path, done), **final)
    except OSError as exc:  # a full disk: say so, keep the run listed, write it later
        message = interrupted_message(path, done, disk_full=exc.errno in (errno.ENOSPC, errno.EDQUOT))
        return dataclasses.replace(status, message=message, **final)
    return read_status(path)


def read_run(path: str | Path) -> RunRecord:
    """Read a run folder; an active run whose worker is gone is marked interrupted on disk."""
    path = Path(path)
    config = read_config(path)
    dataset = _read_json(path / "dataset.json") if (path / "dataset.json").exists() else None
    if dataset is not None:
        dataset = DatasetSnapshot(
            root=dataset["root"],
            classes=tuple(dataset["classes"]),
            **{k: tuple(tuple(item) for item in dataset[k]) for k in ("train", "val", "skipped")},
        )
    strategies = {key: _read_strategy(path / key) for key in config.strategies if (path / key).is_dir()}
    record = RunRecord(path.name, path, config, read_status(path), strategies, dataset)
    done = [f"{STRATEGIES[s.key].label} at epoch {s.last_good_epoch}" for s in strategies.values() if s.history]
    return dataclasses.replace(record, status=settle(path, record.status, done))


def list_runs(runs_dir: Path | None = None) -> list[RunRecord]:
    """Every readable run, newest first (folders that are not runs are ignored)."""
    runs_dir = runs_dir or get_settings().runs_dir
    if not runs_dir.is_dir():
        return []
    found = []
    for path in sorted(runs_dir.iterdir(), reverse=True):
        if (path / "config.json").is_file() and (path / "status.json").is_file():
            try:
                found.append(read_run(path))
            except (OSError, ValueError, TypeError, KeyError):
                continue  # not a run of this version of ConvLens
    return found
