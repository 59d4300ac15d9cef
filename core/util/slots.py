"""The server-wide cap on training runs, atomic across sessions, server processes and restarts.

There are :data:`core.config.limits.TRAIN_RUNS` slot files in ``<runs_dir>/.slots/``. Starting a run
takes one with an exclusive, non-blocking ``fcntl.flock``; the lock's open file is then handed
to the worker process (``pass_fds``) and the server closes its own copy, so the worker holds
the slot for exactly as long as it lives. The kernel releases the lock when the worker exits
or is killed, whoever its parent was: workers that outlived a server restart still count,
and no stale slot is ever left behind. Two sessions can never take the same slot (the lock is
taken atomically), so the cap cannot be raced.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from core.config import limits
from core.config.settings import get_settings

SLOTS_FOLDER = ".slots"


def _slots_dir(runs_dir: Path | None) -> Path:
    folder = (runs_dir or get_settings().runs_dir) / SLOTS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding ``path``'s exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def busy(runs_dir: Path | None = None) -> int:
    """How many slots are held now (by live workers, or by a session starting one)."""
    held = 0
    for index in range(int(limits.TRAIN_RUNS.value)):
        fd = _try_lock(_slots_dir(runs_dir) / f"{index}.lock")
        if fd is None:
            held += 1
        else:
            os.close(fd)
    return held


@contextlib.contextmanager
def claim(runs_dir: Path | None = None) -> Iterator[int]:
    """Hold a free slot while the block starts the worker; yields the descriptor to pass to it.

    The block must start the worker with ``pass_fds=(fd,)``; when it ends, this process's copy
    is closed and the worker's copy keeps the slot. If the block raises, the slot is free again.

    Raises:
        LimitExceeded: every slot is held by a running worker.
    """
    total = int(limits.TRAIN_RUNS.value)
    for index in range(total):
        path = _slots_dir(runs_dir) / f"{index}.lock"
        fd = _try_lock(path)
        if fd is None:
            continue
        try:
            yield fd
        finally:
            os.close(fd)
        return
    limits.TRAIN_RUNS.check(total + 1)
