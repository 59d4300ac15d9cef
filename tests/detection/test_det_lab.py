"""The detection lab: offline training inside the run folder, frozen vs fine-tuned weights, cancel, kill, listing."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import limits
from core.datasets.shape_scenes import DET_TRANSFER_CLASSES, write_yolo_dataset
from core.detection import classroom as det_classroom
from core.detection_lab.runs import DetRunConfig, list_det_runs, read_det_run, start_det_run
from core.transfer import store
from core.transfer import supervisor as run_manager
from core.transfer.store import CANCEL_FILE, DISK_FULL, RunWriter, list_runs
from core.util import slots as run_slots
from tests.conftest import ROOT
from tests.offline import NO_NETWORK

needs_detector = pytest.mark.skipif(not det_classroom.available(), reason="assets/detector/ not trained yet")

_OFFLINE_RUN = NO_NETWORK + """
import sys
from core.detection_lab.worker import train_run
from core.detection_lab.runs import DetRunConfig
from core.transfer.store import RunWriter
from core.transfer.worker import run_job
config = DetRunConfig(dataset=sys.argv[1], strategies=("frozen", "finetune"), epochs=1, imgsz=64, batch=4)
writer = RunWriter.create(config, __import__("pathlib").Path(sys.argv[2]))
run_job(writer.path, train_run)
print(json.dumps({"network": network, "commands": commands, "run": str(writer.path)}))
"""


def _weights(path: Path) -> dict:
    import torch

    model = torch.load(path, map_location="cpu", weights_only=False)["model"]  # files this test made or shipped
    return {k: v.float() for k, v in model.state_dict().items()}


@needs_detector
@pytest.mark.slow
def test_training_offline_writes_only_in_the_run_folder_and_freeze_keeps_the_backbone(tmp_path: Path) -> None:
    """A fresh interpreter with sockets forbidden: two strategies train; nothing leaves the run folder."""
    data = tmp_path / "data"
    write_yolo_dataset(data, DET_TRANSFER_CLASSES, 4, 2, seed=0, size=64)
    before = {p for p in tmp_path.rglob("*")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.update(CONVLENS_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT), HOME=str(tmp_path / "userhome"))
    done = subprocess.run(
        [sys.executable, "-c", _OFFLINE_RUN, str(data), str(tmp_path / "runs")],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["network"] == []
    fetchers = {"pip", "uv", "install", "curl", "wget", "git"}
    assert [c for c in report["commands"] if fetchers & set(c.split())] == [], report["commands"]
    run = Path(report["run"])
    written = {p for p in tmp_path.rglob("*") if p.is_file()} - before
    outside = {p for p in written if not p.is_relative_to(run)}
    expected = {
        tmp_path / "home" / "Ultralytics" / "settings.json",
        tmp_path / "home" / "openvino" / "intel" / "openvino_telemetry",  # the opted-out consent (core.detection.quiet)
    }
    font_cache = {p for p in outside if p.is_relative_to(tmp_path / "userhome" / ".cache" / "matplotlib")}
    # matplotlib's font list, built when captum (box CAMs, behind core.detection's façade) is imported: not training
    assert outside - font_cache == expected, sorted(map(str, outside))
    record = read_det_run(run)
    assert record.status.state == "done", record.status.message
    assert {k: s.last_good_epoch for k, s in record.strategies.items()} == {"frozen": 1, "finetune": 1}
    start = _weights(det_classroom.WEIGHTS_PATH)
    frozen, tuned = (_weights(record.strategies[k].best) for k in ("frozen", "finetune"))
    backbone = [k for k in start if k.startswith("model.0.") and k.endswith("conv.weight")]
    assert backbone and all((frozen[k] - start[k]).abs().max() < 1e-3 for k in backbone)
    assert any((tuned[k] - start[k]).abs().max() > 1e-3 for k in backbone)
    assert record.classes == DET_TRANSFER_CLASSES and frozen["model.22.cv3.0.2.bias"].numel() == 3  # new head


@needs_detector
def test_a_cancelled_run_ends_cancelled_and_lists_apart_from_classification(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    write_yolo_dataset(data, DET_TRANSFER_CLASSES, 2, 1, seed=0, size=64)
    writer = RunWriter.create(DetRunConfig(dataset=str(data), epochs=1, imgsz=64, batch=2))
    (writer.path / CANCEL_FILE).touch()  # what cancel_run does for the run's owner
    from core.detection_lab.worker import train_run
    from core.transfer.worker import run_job

    run_job(writer.path, train_run)
    record = read_det_run(writer.path)
    assert record.status.state == "cancelled" and "frozen backbone" in record.status.message
    assert [r.run_id for r in list_det_runs()] == [writer.path.name]
    assert list_runs() == []  # the classification lab does not list detection runs


@needs_detector
@pytest.mark.slow
def test_a_killed_worker_leaves_the_run_interrupted_at_its_last_good_epoch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    write_yolo_dataset(data, DET_TRANSFER_CLASSES, 4, 2, seed=0, size=64)
    config = DetRunConfig(dataset=str(data), strategies=("finetune",), epochs=20, imgsz=64, batch=4)
    path = start_det_run(config, owner="alice")
    assert run_slots.busy() == 1  # the worker holds a slot of the server-wide cap
    with pytest.raises(run_manager.NotYourRun):
        run_manager.cancel_run(path, "bob")
    metrics = path / "finetune" / "metrics.json"
    deadline = time.monotonic() + 600
    while not (metrics.is_file() and json.loads(metrics.read_text())["history"]):
        assert time.monotonic() < deadline and read_det_run(path).status.active, read_det_run(path).status.message
        time.sleep(0.5)
    os.kill(run_manager.worker_pid(path), signal.SIGKILL)
    while run_manager.worker_pid(path) is not None:  # reaped once the kill has landed
        assert time.monotonic() < deadline
        time.sleep(0.1)
    record = read_det_run(path)
    assert run_slots.busy() == 0  # the dead worker's slot is free again
    epochs = record.strategies["finetune"].last_good_epoch
    assert record.status.state == "interrupted" and epochs >= 1
    assert f"Fine-tune everything at epoch {epochs}" in record.status.message
    assert record.strategies["finetune"].best is not None


def test_a_starting_worker_that_is_still_importing_is_not_taken_for_dead() -> None:
    """Under load, importing torch and Ultralytics takes longer than the heartbeat's STALE_SECONDS."""
    from core.transfer.store import RunStatus, worker_gone

    assert not worker_gone(RunStatus("starting", pid=os.getpid(), heartbeat=0.0))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert worker_gone(RunStatus("starting", pid=int(dead.stdout), heartbeat=time.time()))
    assert worker_gone(RunStatus("running", pid=os.getpid(), heartbeat=0.0))  # a running worker must beat


def _scenes(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    write_yolo_dataset(data, DET_TRANSFER_CLASSES, 2, 1, seed=0, size=64)
    return data


def test_a_detection_run_needs_an_owner_and_a_free_slot(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path / "home"))
    config = DetRunConfig(dataset=str(_scenes(tmp_path)), strategies=("scratch",), epochs=1, imgsz=64)
    with pytest.raises(ValueError, match="owner"):
        start_det_run(config, owner="")
    with contextlib.ExitStack() as held:
        for _ in range(int(limits.TRAIN_RUNS.value)):
            held.enter_context(run_slots.claim())
        with pytest.raises(limits.LimitExceeded):
            start_det_run(config, owner="alice")
    assert run_slots.busy() == 0 and list_det_runs() == []  # nothing was started nor left behind


def test_starting_a_detection_run_on_a_full_disk_says_so(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path / "home"))
    config = DetRunConfig(dataset=str(_scenes(tmp_path)), strategies=("scratch",), epochs=1, imgsz=64)

    def no_space(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(store, "write_atomic", no_space)
    with pytest.raises(run_manager.RunsDiskFull, match="disk holding the runs folder is full"):
        start_det_run(config, owner="alice")
    assert run_slots.busy() == 0


def test_a_detection_worker_that_died_of_a_full_disk_says_why(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_HOME", str(tmp_path / "home"))
    writer = RunWriter.create(DetRunConfig(dataset=str(_scenes(tmp_path)), epochs=1, imgsz=64))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    writer.status(state="running", pid=dead.pid)
    (writer.path / "worker.log").write_bytes(b"OSError: [Errno 28] No space left on device\n")
    record = read_det_run(writer.path)
    assert record.status.state == "interrupted" and DISK_FULL in record.status.message
    assert [r.run_id for r in list_det_runs()] == [writer.path.name]
