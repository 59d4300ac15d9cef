"""A hostile student against the training runs: racing the cap, restarts, cancelling others' runs, a full disk."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from core.config import limits
from core.transfer import store as runs
from core.transfer import supervisor as run_manager
from core.transfer.store import RunConfig, RunWriter, list_runs, read_run
from core.util import slots as run_slots
from tests.conftest import ROOT

# A "server" process: takes a slot and starts a "worker" that holds it for a while, like start_run.
SERVER = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    from core.util import slots as run_slots
    from core.config.limits import LimitExceeded
    runs_dir, start, hold = Path(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    time.sleep(max(0.0, start - time.time()))  # every server presses Train at the same instant
    try:
        with run_slots.claim(runs_dir) as fd:
            worker = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({hold})"],
                                      pass_fds=(fd,), stdout=subprocess.DEVNULL)
        print("started", worker.pid, flush=True)
    except LimitExceeded:
        print("refused", flush=True)
    """
)


def _servers(runs_dir: Path, count: int, hold: float) -> list[str]:
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SERVER, str(runs_dir), str(start), str(hold)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    return [p.communicate(timeout=240)[0].strip() for p in procs]


def _wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_four_servers_pressing_train_at_once_start_only_the_cap_and_it_survives_a_restart(tmp_path: Path) -> None:
    cap = int(limits.TRAIN_RUNS.value)
    outcome = _servers(tmp_path, 4, hold=20)
    started = [o for o in outcome if o.startswith("started")]
    assert len(started) == cap and outcome.count("refused") == 4 - cap, outcome
    # Every server process has exited ("restarted"); the workers it left still hold their slots.
    assert run_slots.busy(tmp_path) == cap
    assert _servers(tmp_path, 1, hold=1) == ["refused"]
    for line in started:
        pid = int(line.split()[1])
        subprocess.run(["kill", str(pid)], check=True)
    _wait_until(lambda: run_slots.busy(tmp_path) == 0)  # a dead worker frees its slot by itself
    assert _servers(tmp_path, 1, hold=0)[0].startswith("started")


def test_threads_of_one_server_cannot_share_a_slot(tmp_path: Path) -> None:
    cap = int(limits.TRAIN_RUNS.value)
    barrier, release = threading.Barrier(6), threading.Event()
    got, refused = [], []

    def press_train() -> None:
        barrier.wait()
        try:
            with run_slots.claim(tmp_path) as fd:
                got.append(fd)
                release.wait(10)
        except limits.LimitExceeded as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=press_train) for _ in range(6)]
    for thread in threads:
        thread.start()
    _wait_until(lambda: len(got) + len(refused) == 6 or len(refused) == 6 - cap)
    release.set()
    for thread in threads:
        thread.join()
    assert len(got) == cap and len(refused) == 6 - cap
    assert "at most 2 may run" in refused[0]
    assert run_slots.busy(tmp_path) == 0  # a block that ends without a worker frees its slot


def _run(tmp_path: Path, owner: str | None) -> Path:
    writer = RunWriter.create(RunConfig(str(tmp_path), "resnet18", False, ("fine_tuning",)), tmp_path / "runs")
    if owner:
        (writer.path / run_manager.OWNER_FILE).write_text(run_manager._digest(owner))
    return writer.path


def test_only_the_owner_or_the_teacher_can_cancel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _run(tmp_path, owner="alice-token")
    for intruder, teacher in (("mallory", None), ("", ""), (None, None), ("mallory", "guess")):
        with pytest.raises(run_manager.NotYourRun, match="another session"):
            run_manager.cancel_run(path, intruder, teacher)
    assert not (path / runs.CANCEL_FILE).exists()
    monkeypatch.setenv("CONVLENS_TEACHER_TOKEN", "")  # unset: an empty token is nobody's
    assert not run_manager.may_cancel(path, "mallory", "")
    monkeypatch.setenv("CONVLENS_TEACHER_TOKEN", "s3cret")
    assert not run_manager.may_cancel(path, "mallory", "s3cre")
    run_manager.cancel_run(path, "mallory", "s3cret")
    assert (path / runs.CANCEL_FILE).exists()
    other = _run(tmp_path, owner="alice-token")
    run_manager.cancel_run(other, "alice-token")
    assert (other / runs.CANCEL_FILE).exists()


def test_a_run_without_an_owner_cannot_be_cancelled_by_a_student(tmp_path: Path) -> None:
    path = _run(tmp_path, owner=None)
    with pytest.raises(run_manager.NotYourRun):
        run_manager.cancel_run(path, "anyone")


def test_start_run_requires_an_owner(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="owner"):
        run_manager.start_run(RunConfig(str(tmp_path), "resnet18", False, ("fine_tuning",)), owner="")


def _full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runs, "write_atomic", no_space)


def test_a_full_disk_keeps_the_run_listed_with_its_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _run(tmp_path, owner="alice")
    status = json.loads((path / "status.json").read_text())
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (path / "status.json").write_text(json.dumps({**status, "state": "running", "pid": dead.pid}))
    _full_disk(monkeypatch)
    record = read_run(path)  # marking it interrupted cannot be written: no exception, the cause is kept
    assert record.status.state == "interrupted"
    assert "disk" in record.status.message and "full" in record.status.message
    assert [r.run_id for r in list_runs(tmp_path / "runs")] == [path.name]


def test_a_worker_that_fills_the_disk_says_why_and_the_run_stays_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.transfer.strategies import TrainSettings
    from core.transfer.worker import run_job
    from tests.tiny_datasets import make_dataset
    from tests.tiny_models import registered

    root = make_dataset(tmp_path / "d", {"a": 4, "b": 4})
    real_write, writes = runs.write_atomic, []

    def fills_up(path: Path, data: bytes) -> None:
        writes.append(path.name)
        if len(writes) > 3:  # the run starts, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data)

    with registered() as key:
        config = RunConfig(
            str(root), key, False, ("fine_tuning",), TrainSettings(epochs=2, batch_size=8, image_size=16)
        )
        writer = RunWriter.create(config, tmp_path / "runs")
        monkeypatch.setattr(runs, "write_atomic", fills_up)
        run_job(writer.path)  # no exception escapes the worker
    logged = capsys.readouterr().err
    assert runs.DISK_FULL in logged
    (writer.path / "worker.log").write_text(logged)
    monkeypatch.setattr(runs, "write_atomic", real_write)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    writer.status(pid=dead.pid)  # the worker process has exited
    record = read_run(writer.path)
    assert record.status.state == "interrupted" and runs.DISK_FULL in record.status.message
    assert [r.run_id for r in list_runs(tmp_path / "runs")] == [writer.path.name]


def test_another_sessions_run_shows_no_cancel_button(tmp_path: Path) -> None:
    from core.config.settings import get_settings
    from tests.apptest import open_page

    config = RunConfig(str(tmp_path), "resnet18", False, ("fine_tuning",))
    writer = RunWriter.create(config)
    (writer.path / run_manager.OWNER_FILE).write_text(run_manager._digest("someone-else"))
    writer.status(state="running", pid=os.getpid())  # a live worker, heartbeat now
    at = open_page("transfer", sb_weights="Random (untrained)")
    assert writer.path.parent == get_settings().runs_dir
    assert at.selectbox(key="tl_run_pick").value == writer.path.name
    assert not [b for b in at.button if b.key == "tl_cancel"]
    assert "only it, or the teacher, can cancel" in " ".join(c.value for c in at.caption).replace("\\", "")
    mine = open_page("transfer", sb_weights="Random (untrained)")
    token = mine.session_state["run_owner"]
    (writer.path / run_manager.OWNER_FILE).write_text(run_manager._digest(token))
    mine.run()
    assert [b for b in mine.button if b.key == "tl_cancel"]
    writer.status(state="cancelled")


def test_starting_a_run_on_a_full_disk_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.tiny_datasets import make_dataset

    root = make_dataset(tmp_path / "d", {"a": 4, "b": 4})
    _full_disk(monkeypatch)
    with pytest.raises(run_manager.RunsDiskFull, match="disk holding the runs folder is full"):
        run_manager.start_run(RunConfig(str(root), "resnet18", False, ("fine_tuning",)), owner="alice")
    assert run_slots.busy() == 0 and list_runs() == []
