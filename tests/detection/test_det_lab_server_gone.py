"""A detection-lab worker whose server is gone ends its run as interrupted, saying why (as the transfer worker does)."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from core.detection_lab.runs import DetRunConfig
from core.transfer.store import RunWriter, read_status
from tests.server_gone import start_then_exit

# The detection worker's program (core.transfer.worker.main) with a training that asks, as
# Ultralytics' batch callback does, whether to stop, until its server is gone.
WORKER = textwrap.dedent(
    """
    import sys, time
    from core.detection_lab.runs import DetRunConfig
    from core.detection_lab.worker import StrategyEpochs
    from core.transfer import worker

    def train(writer):
        epochs = StrategyEpochs(writer, "frozen", 0, DetRunConfig(dataset="shapes"), time.perf_counter())
        open(sys.argv[2], "w").write("running")
        deadline = time.time() + 60
        while time.time() < deadline and not epochs.should_stop():
            time.sleep(0.05)
        return "The server was still there."

    worker.main(train)
    """
)


@pytest.mark.slow
def test_a_detection_run_whose_server_exits_ends_interrupted_with_the_reason(tmp_path: Path) -> None:
    run = RunWriter.create(DetRunConfig(dataset="shapes"), tmp_path / "runs").path
    out = tmp_path / "worker.txt"
    start_then_exit(WORKER, out, str(run), str(out))
    deadline = time.time() + 30
    while time.time() < deadline and read_status(run).active:
        time.sleep(0.1)
    status = read_status(run)
    assert status.state == "interrupted", status
    assert status.message.startswith("Stopped: the server that started this run was stopped")
    assert (run / "frozen" / "metrics.json").exists()  # the strategy's folder, as the real worker writes it
