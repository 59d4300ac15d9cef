"""Start, cancel and wait for training runs; each run trains in its own worker process.

The worker is a fresh interpreter running ``python -m core.transfer.worker <run folder>`` (or, for
another kind of run such as the detection lab's, the module given to :func:`launch`)
(spawned like multiprocessing's ``spawn`` start method, but without re-running the parent's
``__main__``: under Streamlit that would be the app script itself). Training never blocks
the server's script runs, and killing the worker leaves a readable run folder that
:func:`core.transfer.store.read_run` marks interrupted. Everything a page needs is found from disk
(:func:`core.transfer.store.list_runs`), so a browser refresh reattaches to a run. Workers never
outlive their server: it stops them when it exits (:func:`stop_workers`, also Ctrl-C: same process
group), and a worker whose server is gone (even killed outright) stops itself before its next batch;
after a restart their runs show as interrupted, with the reason.
"""

from __future__ import annotations

import atexit
import errno
import hashlib
import hmac
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.config.settings import get_settings
from core.datasets.folders import load_dataset
from core.errors import ConvLensError, WeightsUnavailable
from core.models import registry as zoo
from core.models import weights
from core.transfer.store import CANCEL_FILE, DISK_FULL, RunConfig, RunFolderConfig, RunRecord, RunWriter, read_run
from core.util import slots as run_slots

ROOT = Path(__file__).resolve().parents[2]  # where `core` can be imported from
_WORKERS: dict[str, subprocess.Popen] = {}
_LOCK = threading.Lock()
OWNER_FILE = "owner"  # sha256 of the starting session's token


class NotYourRun(ConvLensError, PermissionError):
    """A session tried to change a run that another session started."""


class RunsDiskFull(ConvLensError, OSError):
    """The disk holding the runs folder is full: no run can start."""


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_teacher(teacher_token: str | None) -> bool:
    """True when ``teacher_token`` is the operator's ``CONVLENS_TEACHER_TOKEN`` (never when that is unset)."""
    secret = get_settings().teacher_token
    return bool(secret and teacher_token) and hmac.compare_digest(_digest(secret), _digest(teacher_token or ""))


def owns(path: str | Path, owner: str | None) -> bool:
    """True when the session with token ``owner`` started the run at ``path``."""
    try:
        recorded = (Path(path) / OWNER_FILE).read_text().strip()
    except OSError:
        return False
    return bool(owner) and hmac.compare_digest(recorded, _digest(owner or ""))


def may_cancel(path: str | Path, owner: str | None, teacher_token: str | None = None) -> bool:
    """Only the session that started a run, or the teacher, may cancel it."""
    return owns(path, owner) or is_teacher(teacher_token)


def _reap() -> None:
    """Collect finished workers (a killed child stays a zombie until its parent does)."""
    with _LOCK:
        for name, process in list(_WORKERS.items()):
            if process.poll() is not None:
                del _WORKERS[name]


def stop_workers() -> None:
    """Stop every worker this server started (registered to run when the server exits).

    Their runs read as interrupted afterwards. Workers also stop on their own when their
    server is gone (``core.transfer.worker.check_server``), in case this never runs (SIGKILL).
    """
    with _LOCK:
        for process in _WORKERS.values():
            if process.poll() is None:
                process.terminate()


atexit.register(stop_workers)


def start_run(config: RunConfig, owner: str) -> Path:
    """Check ``config``, create its run folder and start its worker; returns the folder at once.

    ``owner`` is the starting session's secret token: only it (or the teacher) may cancel the run.
    The server-wide cap is a slot the worker holds while it lives (:mod:`core.util.slots`).

    Raises:
        DatasetError, LimitExceeded: the dataset cannot be used (checked here, before any work),
            or this server already trains as many runs as it allows at once.
        WeightsUnavailable: pretrained weights are asked for but are not on this machine.
        ValueError: unknown model.
    """
    if not owner:
        raise ValueError("owner is empty: pass the session's token so that only it can cancel the run.")
    load_dataset(config.dataset, config.val_ratio, config.train.seed)
    card = zoo.model_card(config.model)
    if config.pretrained and not weights.locate(card).available:
        raise WeightsUnavailable(weights.unavailable_message(card, "not downloaded yet"))
    return launch(config, owner, "core.transfer.worker")


def launch(config: RunFolderConfig, owner: str, module: str) -> Path:
    """Create the run folder of ``config`` (checked already) and start ``python -m <module> <run folder>``.

    Every kind of run goes through here: it takes a slot of the server-wide cap, records its
    owner and reports a full disk. ``module`` runs the job with :func:`core.transfer.worker.run_job`.

    Raises:
        ValueError: ``owner`` is empty.
        LimitExceeded: this server already trains as many runs as it allows at once.
        RunsDiskFull: the run folder cannot be written.
    """
    if not owner:
        raise ValueError("owner is empty: pass the session's token so that only it can cancel the run.")
    _reap()
    try:
        return _spawn(config, owner, module)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RunsDiskFull(DISK_FULL) from None
        raise


def _spawn(config: RunFolderConfig, owner: str, module: str) -> Path:
    with run_slots.claim() as slot:
        writer = RunWriter.create(config)
        (writer.path / OWNER_FILE).write_text(_digest(owner))
        with (writer.path / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", module, str(writer.path)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(slot,),  # the worker holds the slot until it exits
            )
    with _LOCK:
        _WORKERS[writer.path.name] = process
    writer.status(pid=process.pid)
    return writer.path


def cancel_run(path: str | Path, owner: str | None, teacher_token: str | None = None) -> None:
    """Ask the run's worker to stop; it does before its next batch and keeps what it saved.

    Raises:
        NotYourRun: ``owner`` did not start this run and ``teacher_token`` is not the teacher's.
    """
    if not may_cancel(path, owner, teacher_token):
        raise NotYourRun("This run was started by another session: only it, or the teacher, can cancel it.")
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
