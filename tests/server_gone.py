"""A worker started by a "server" process that exits while the worker runs: what a stopped server leaves."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT

# Starts the worker script with the remaining arguments, waits for it to write "running" to the
# file named by its second argument, checks that it goes on while this server lives, then exits.
SERVER = textwrap.dedent(
    """
    import subprocess, sys, time
    from pathlib import Path
    out = Path(sys.argv[2])
    subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[3:]])
    while not out.exists():
        time.sleep(0.05)
    time.sleep(1.0)
    sys.exit(0 if out.read_text() == "running" else 3)  # alive server: the worker goes on
    """
)


def start_then_exit(worker: str, out: Path, *args: str) -> None:
    """Run ``worker`` (Python source, given ``args``) as the child of a server that exits once ``out`` says running."""
    subprocess.run([sys.executable, "-c", SERVER, worker, str(out), *args], cwd=ROOT, check=True, timeout=120)
