"""A training worker never outlives its server: it stops itself once the server process is gone."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from tests.server_gone import start_then_exit

# The worker's own check, in a process whose parent (the "server") exits while it runs.
WORKER = textwrap.dedent(
    """
    import os, sys, time
    from core.transfer import worker
    worker._SERVER = os.getppid()
    out = sys.argv[1]
    open(out, "w").write("running")
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            worker.check_server()
        except worker.ServerGone as exc:
            open(out, "w").write(f"stopped: {exc}")
            break
        time.sleep(0.05)
    """
)
@pytest.mark.slow
def test_a_worker_stops_when_its_server_exits(tmp_path: Path) -> None:
    out = tmp_path / "worker.txt"
    start_then_exit(WORKER, out, str(out))
    deadline = time.time() + 30
    while time.time() < deadline and not out.read_text().startswith("stopped"):
        time.sleep(0.1)
    assert out.read_text().startswith("stopped: Stopped: the server that started this run was stopped")
