"""Start, cancel and wait for training runs; each run trains in its own worker process.

The worker is a fresh interpreter running ``python -m core.transfer.worker <run folder>``
(spawned like multiprocessing's ``spawn`` start method, but without re-running the parent's
``__main__``: under Streamlit that would be the app script itself). Training never blocks
the server's script runs, and killing the worker leaves a readable run folder that
:func:`core.transfer.store.read_run` marks interrupted. Everything a page needs is found from disk
(:func:`core.transfer.store.list_runs`), so a browser refresh reattaches to a run, and a run whose
worker outlived a server restart is picked up again; Ctrl-C in the server's terminal stops
its workers too (same process group), and their runs show as interrupted.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from core.config import limits
from core.datasets.folders import load_dataset
from core.errors import WeightsUnavailable
from core.models import registry as zoo
from core.models import weights
from core.transfer.store import CANCEL_FILE, RunConfig, RunRecord, RunWriter, read_run

ROOT = Path(__file__).resolve().parents[2]  # where `core` can be imported from
_WORKERS: dict[str, subprocess.Popen] = {}
_LOCK = threading.Lock()


def _reap() -> None:
    """Collect finished workers (a killed child stays a zombie until its parent does)."""
    with _LOCK:
        for name, process in list(_WORKERS.items()):
            if process.poll() is not None:
                del _WORKERS[name]


def start_run(config: RunConfig) -> Path:
    """Check ``config``, create its run folder and start its worker; returns the folder at once.

    Raises:
        DatasetError, LimitExceeded: the dataset cannot be used (checked here, before any work),
            or this server already trains as many runs as it allows at once.
        WeightsUnavailable: pretrained weights are asked for but are not on this machine.
        ValueError: unknown model.
    """
    load_dataset(config.dataset, config.val_ratio, config.train.seed)
    card = zoo.model_card(config.model)
    if config.pretrained and not weights.locate(card).available:
        raise WeightsUnavailable(weights.unavailable_message(card, "not downloaded yet"))
    _reap()
    with _LOCK:
        limits.TRAIN_RUNS.check(len(_WORKERS) + 1)
    writer = RunWriter.create(config)
    with (writer.path / "worker.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "core.transfer.worker", str(writer.path)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    writer.status(pid=process.pid)
    with _LOCK:
        _WORKERS[writer.path.name] = process
    return writer.path


def cancel_run(path: str | Path) -> None:
    """Ask the run's worker to stop; it does before its next batch and keeps what it saved."""
    (Path(path) / CANCEL_FILE).touch()


def worker_pid(path: str | Path) -> int | None:
    """The pid of the worker this server started for the run at ``path``, if it is alive."""
    _reap()
    with _LOCK:
        process = _WORKERS.get(Path(path).name)
        return process.pid if process is not None else None


def wait(path: str | Path, timeout: float, poll: float = 0.2) -> RunRecord:
    """Poll the run until it is no longer active, or raise ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        _reap()
        record = read_run(path)
        if not record.status.active:
            return record
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {record.run_id} is still {record.status.state} after {timeout:.0f} s.")
        time.sleep(poll)
