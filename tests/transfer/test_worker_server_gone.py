"""A training worker never outlives its server: it stops itself once the server process is gone."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

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
SERVER = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    while not Path(sys.argv[2]).exists():
        time.sleep(0.05)
    time.sleep(1.0)
    sys.exit(0 if Path(sys.argv[2]).read_text() == "running" else 3)  # alive server: the worker goes on
    """
)


@pytest.mark.slow
def test_a_worker_stops_when_its_server_exits(tmp_path: Path) -> None:
    out = tmp_path / "worker.txt"
    subprocess.run([sys.executable, "-c", SERVER, WORKER, str(out)], cwd=ROOT, check=True, timeout=120)
    deadline = time.time() + 30
    while time.time() < deadline and not out.read_text().startswith("stopped"):
        time.sleep(0.1)
    assert out.read_text().startswith("stopped: Stopped: the server that started this run was stopped")
