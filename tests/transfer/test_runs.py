"""The run store and the worker: round trips, TensorBoard, cancel, and killed workers."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from core.transfer import supervisor as run_manager
from core.transfer.loop import evaluate
from core.transfer.results import comparison, confusion, mistakes, trained_module
from core.transfer.store import RunConfig, RunWriter, list_runs, read_config, read_run, read_status
from core.transfer.strategies import TrainSettings
from core.transfer.worker import run_job
from tests.tiny_datasets import make_dataset
from tests.tiny_models import PREPROCESS, registered

SETTINGS = TrainSettings(epochs=3, batch_size=8, image_size=16, lr=0.5, seed=1)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """A finished in-process run of every strategy on the tiny CNN (trained once for this module)."""
    home = tmp_path_factory.mktemp("runs_home")
    root = make_dataset(home / "shapes", {"red": 12, "blue": 12}, val_counts={"red": 5, "blue": 5}, size=20)
    with registered() as key:
        config = RunConfig(str(root), key, False, ("feature_extraction", "fine_tuning", "scratch"), SETTINGS)
        writer = RunWriter.create(config, home / "runs")
        run_job(writer.path)
    return config, read_run(writer.path)


def test_a_finished_run_round_trips(tiny_run) -> None:
    config, record = tiny_run
    assert record.status.state == "done" and record.status.progress == 1.0, record.status.message
    assert read_config(record.path) == config
    assert record.dataset.classes == ("blue", "red") and len(record.dataset.val) == 10
    for key, strategy in record.strategies.items():
        assert [m.epoch for m in strategy.history] == [1, 2, 3], key
        best = max(strategy.history, key=lambda m: m.val_acc)
        assert strategy.best.epoch == best.epoch and strategy.best.accuracy == best.val_acc
        assert strategy.trainable_params and strategy.seconds > 0
    rows = {r.strategy: r for r in comparison(record)}
    assert rows["feature_extraction"].trainable_params < rows["fine_tuning"].trainable_params
    assert not list(record.path.rglob("*.tmp"))


def test_the_checkpoint_reproduces_the_best_predictions(tiny_run) -> None:
    _, record = tiny_run
    with registered():
        for strategy in record.strategies.values():
            module = trained_module(record, strategy, torch.device("cpu"))
            images = torch.stack([PREPROCESS.decode(record.dataset.val_path(i)) for i in range(10)])
            labels = torch.tensor([label for _, label in record.dataset.val])
            again = evaluate(module, images, labels, PREPROCESS.batch, 4)
            assert again.predictions == strategy.best.predictions
            matrix = confusion(record, strategy)
            assert matrix.sum() == 10 and matrix.trace() == round(strategy.best.accuracy * 10)
            assert len(mistakes(record, strategy)) == 10 - matrix.trace()


def test_tensorboard_logs_hold_the_same_metrics(tiny_run) -> None:
    _, record = tiny_run
    for key, strategy in record.strategies.items():
        events = EventAccumulator(str(record.path / key))
        events.Reload()
        assert {"loss/train", "loss/val", "acc/train", "acc/val"} <= set(events.Tags()["scalars"])
        logged = [(e.step, e.value) for e in events.Scalars("acc/val")]
        assert logged == [(m.epoch, pytest.approx(m.val_acc)) for m in strategy.history]


def test_runs_are_listed_newest_first_and_junk_is_ignored(tiny_run, tmp_path: Path) -> None:
    config, first = tiny_run
    second = RunWriter.create(config, first.path.parent)
    (first.path.parent / "notes").mkdir()
    (first.path.parent / "broken").mkdir()
    (first.path.parent / "broken" / "config.json").write_text("{not json")
    (first.path.parent / "broken" / "status.json").write_text("{}")
    assert [r.run_id for r in list_runs(first.path.parent)] == [second.path.name, first.run_id]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    ("pid", "age", "state"),
    [
        (os.getpid(), 1, "running"),
        (os.getpid(), 120, "interrupted"),
        (None, 120, "interrupted"),
        ("dead", 1, "interrupted"),
    ],
)
def test_a_running_run_without_a_live_worker_is_interrupted(tmp_path: Path, pid, age: float, state: str) -> None:
    writer = RunWriter.create(RunConfig(str(tmp_path), "resnet18", False, ("fine_tuning",)))
    writer.status(state="running", pid=_dead_pid() if pid == "dead" else pid)
    status = json.loads((writer.path / "status.json").read_text())
    (writer.path / "status.json").write_text(json.dumps({**status, "heartbeat": time.time() - age}))
    record = read_run(writer.path)
    assert record.status.state == state
    assert read_status(writer.path).state == state  # written back, so every reader agrees
    if state == "interrupted":
        assert "before any epoch finished" in record.status.message


def test_cancel_flag_and_bad_data_end_the_run_with_a_message(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"a": 4, "b": 4})
    with registered() as key:
        writer = RunWriter.create(RunConfig(str(root), key, False, ("fine_tuning",), SETTINGS))
        (writer.path / run_manager.OWNER_FILE).write_text(run_manager._digest("me"))
        run_manager.cancel_run(writer.path, "me")
        run_job(writer.path)
        assert read_run(writer.path).status.state == "cancelled"
        (root / "b" / "b_000.png").write_bytes(b"not a png")
        for path in (root / "b").glob("b_00[1-3].png"):
            path.unlink()
        writer = RunWriter.create(RunConfig(str(root), key, False, ("fine_tuning",), SETTINGS))
        run_job(writer.path)
        status = read_run(writer.path).status
    assert status.state == "failed" and "Class 'b' has 1 image" in status.message


# Worker processes (spawned: they see the zoo, not models registered by a test).
WORKER_CONFIG = dict(model="mobilenet_v3_small", pretrained=False, strategies=("fine_tuning",))
WORKER_SETTINGS = TrainSettings(epochs=50, batch_size=4, image_size=32)


def _wait_for(path: Path, ready, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not ready(read_status(path)):
        assert time.monotonic() < deadline, read_status(path)
        time.sleep(0.05)


def _training_epoch(status) -> int:
    return int(status.phase.split()[1]) if status.phase.startswith("epoch ") else 0


def test_the_worker_interpreter_can_import_its_module() -> None:
    """The supervisor starts ``python -m core.transfer.worker`` in ROOT: core must import from there."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", "import core.transfer.worker"], cwd=run_manager.ROOT, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()[-500:]


@pytest.mark.slow
def test_a_killed_worker_leaves_a_readable_run_marked_interrupted(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d", {"a": 10, "b": 10}, size=32)
    path = run_manager.start_run(RunConfig(str(root), train=WORKER_SETTINGS, **WORKER_CONFIG), owner="me")
    _wait_for(path, lambda s: _training_epoch(s) >= 2 and s.done >= 1)  # mid-epoch, after a good epoch
    os.kill(run_manager.worker_pid(path), signal.SIGKILL)
    _wait_for(path, lambda s: run_manager.worker_pid(path) is None, timeout=30)
    record = read_run(path)
    strategy = record.strategies["fine_tuning"]
    assert record.status.state == "interrupted" and read_status(path).state == "interrupted"
    assert strategy.last_good_epoch >= 1 and strategy.best.epoch <= strategy.last_good_epoch
    assert f"Fine-tuning at epoch {strategy.last_good_epoch}" in record.status.message
    module = trained_module(record, strategy, torch.device("cpu"))
    assert module(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
