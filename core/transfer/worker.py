"""One training run from start to end, as the background worker executes it.

Loads and decodes the dataset once, then trains each strategy of the run on the same split,
seed and image size, writing everything to the run folder as it goes (:mod:`core.transfer.store`).
Cancelling, the server's time limit and errors all end in a final state with a message.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from core.config import limits
from core.config.device import default_device
from core.datasets.folders import Dataset, load_dataset
from core.datasets.tensors import ImageTensors, Preprocess, decode_split
from core.errors import ConvLensError, DatasetError
from core.models import registry as zoo
from core.models.loading import copy_module, get_model
from core.transfer.loop import Cancelled, Observer, train_strategy
from core.transfer.records import DatasetSnapshot, EpochMetrics, Evaluation, RunConfig
from core.transfer.store import DISK_FULL, HEARTBEAT_SECONDS, RunWriter, read_config
from core.transfer.strategies import STRATEGIES, Strategy

log = logging.getLogger("convlens")
_STATUS_EVERY = 0.5  # seconds between progress writes (epoch ends are always written)
_SERVER: int | None = None  # pid of the server that started this worker (set when run as a program)


class ServerGone(Cancelled):
    """The server that started this worker has exited: nobody can see or cancel the run any more."""


def check_server() -> None:
    """Raise :class:`ServerGone` once the starting server is gone (this process was re-parented)."""
    if _SERVER is not None and os.getppid() != _SERVER:
        raise ServerGone("Stopped: the server that started this run was stopped (restart it and start a new run).")


def snapshot(dataset: Dataset, train: ImageTensors, val: ImageTensors) -> DatasetSnapshot:
    """The split as decoded (files that failed to decode are left out and listed as skipped)."""

    def rows(split: ImageTensors) -> tuple[tuple[str, int], ...]:
        return tuple(
            (str(p.relative_to(dataset.root)), int(y)) for p, y in zip(split.paths, split.labels.tolist(), strict=True)
        )

    skipped = tuple((s.path, s.reason) for s in (*dataset.skipped, *train.skipped, *val.skipped))
    return DatasetSnapshot(str(dataset.root), dataset.classes, rows(train), rows(val), skipped)


class _JobObserver(Observer):
    """Turns training events into status writes, saved epochs, cancels and the time limit."""

    def __init__(self, writer: RunWriter, strategy: Strategy, index: int, config: RunConfig, started: float) -> None:
        self.writer, self.strategy, self.index, self.config = writer, strategy, index, config
        self.job_started, self.clock = started, time.perf_counter()
        self.overall, self.last_write = index / len(config.strategies), 0.0

    def check(self) -> None:
        check_server()
        if self.writer.cancel_requested():
            raise Cancelled(f"Cancelled by the user during {self.strategy.label.lower()}.")
        elapsed = time.perf_counter() - self.job_started
        if elapsed > limits.TRAIN_SECONDS.value:
            limits.TRAIN_SECONDS.check(elapsed / max(self.overall, 1e-3))

    def progress(self, phase: str, done: int, total: int) -> None:
        fraction = 0.0
        if phase.startswith("epoch "):
            fraction = (int(phase.split()[1]) - 1 + done / total) / self.config.train.epochs
        self.overall = (self.index + fraction) / len(self.config.strategies)
        now = time.perf_counter()
        if not fraction:  # features or setup: time left counts from the first epoch
            self.clock = now
        if now - self.last_write < _STATUS_EVERY and done < total:
            return
        self.last_write = now
        eta = (now - self.clock) * (1 - fraction) / fraction if fraction > 0 else None
        self.writer.status(
            strategy=self.strategy.key, phase=phase, done=done, total=total, progress=self.overall, eta_seconds=eta
        )

    def started(self, trainable_params: int) -> None:
        self.writer.strategy_started(self.strategy.key, trainable_params)

    def epoch(self, metrics: EpochMetrics, evaluation: Evaluation, improved: bool, module: nn.Module) -> None:
        self.writer.epoch(self.strategy.key, metrics, evaluation, improved, module)


def _decode(dataset: Dataset, preprocess: Preprocess, writer: RunWriter) -> tuple[ImageTensors, ImageTensors]:
    total = len(dataset.train) + len(dataset.val)

    def progress(offset: int) -> Callable[[int, int], None]:
        def report(done: int, _total: int) -> None:
            check_server()
            if writer.cancel_requested():
                raise Cancelled("Cancelled by the user while the images were decoded.")
            if done % 16 == 0:
                writer.status(phase="decoding images", done=offset + done, total=total)

        return report

    train = decode_split(dataset.train, preprocess, dataset.root, progress(0))
    val = decode_split(dataset.val, preprocess, dataset.root, progress(len(dataset.train)))
    missing = [c for i, c in enumerate(dataset.classes) if not (train.labels == i).any()]
    if missing or len(val) == 0:
        what = f"class(es) {', '.join(missing)} have no readable training image" if missing else "no validation image"
        raise DatasetError(f"After skipping files that are not images, {what}. Add readable images.")
    return train, val


def _module(config: RunConfig, strategy: Strategy) -> nn.Module:
    if strategy.pretrained:
        return copy_module(get_model(config.model, pretrained=config.pretrained, device=torch.device("cpu")))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.train.seed)
        return zoo.entry(config.model).build()


def _train(config: RunConfig, writer: RunWriter) -> str:
    started = time.perf_counter()
    dataset = load_dataset(config.dataset, config.val_ratio, config.train.seed)
    preprocess = Preprocess.for_model(zoo.entry(config.model).transforms(), config.train.image_size)
    train, val = _decode(dataset, preprocess, writer)
    writer.dataset(snapshot(dataset, train, val))
    device = default_device()
    summary = []
    for index, key in enumerate(config.strategies):
        strategy = STRATEGIES[key]
        writer.status(strategy=key, phase="preparing the model", done=0, total=0)
        observer = _JobObserver(writer, strategy, index, config, started)
        result = train_strategy(
            strategy,
            _module(config, strategy),
            train,
            val,
            preprocess,
            config.train,
            len(dataset.classes),
            device,
            observer,
        )
        writer.strategy_finished(key, result.seconds)
        summary.append(f"{strategy.label} {result.best.accuracy:.1%} (epoch {result.best_epoch})")
    return "Best validation accuracy: " + "; ".join(summary) + "."


def _heartbeat(writer: RunWriter, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_SECONDS):
        with contextlib.suppress(OSError):  # a full disk: the trainer reports it
            writer.status()


def run_job(run_dir: str | Path, train: Callable[[RunWriter], str] | None = None) -> None:
    """Execute the run in ``run_dir`` (its config.json) and leave it in a final state.

    ``train`` does the work and returns the final message (default: the classification run).
    """
    train = train or (lambda w: _train(read_config(w.path), w))
    writer = RunWriter(Path(run_dir))
    writer.status(state="running", pid=os.getpid(), phase="loading the dataset")
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(writer, stop), daemon=True).start()
    try:
        message = train(writer)
        writer.status(progress=1.0)
        writer.close("done", message)
    except Cancelled as exc:
        writer.close("interrupted" if isinstance(exc, ServerGone) else "cancelled", str(exc))
    except limits.LimitExceeded as exc:
        writer.close("stopped", str(exc))
    except (ConvLensError, ValueError) as exc:
        writer.close("failed", str(exc))
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            _crashed(writer, exc)
        else:  # nothing more can be saved; say why in worker.log, which the page reads
            print(f"Training stopped: {DISK_FULL} ({exc})", file=sys.stderr, flush=True)
            _close_quietly(writer, "failed", DISK_FULL)
    except Exception as exc:
        _crashed(writer, exc)
    finally:
        stop.set()


def _crashed(writer: RunWriter, exc: Exception) -> None:
    log.exception("Training run %s failed", writer.path)
    with contextlib.suppress(OSError):
        (writer.path / "error.txt").write_text(traceback.format_exc())
    message = f"Training failed unexpectedly ({type(exc).__name__}: {exc}); see error.txt in the run folder."
    _close_quietly(writer, "failed", message)


def _close_quietly(writer: RunWriter, state: str, message: str) -> None:
    """Write the final state; when even that fails, the worker's log keeps the reason."""
    try:
        writer.close(state, message)
    except OSError as exc:
        print(f"Could not write the final state ({exc}): {state}: {message}", file=sys.stderr, flush=True)


def main(train: Callable[[RunWriter], str] | None = None) -> None:
    """The worker program of every kind of run: ``python -m <module> <run folder>``.

    Remembers the server that started it (its parent), so that :func:`check_server` ends the run
    as interrupted once that server is gone, even when it was killed outright; then :func:`run_job`.
    """
    global _SERVER
    _SERVER = os.getppid()
    run_job(sys.argv[1], train)


if __name__ == "__main__":
    main()
