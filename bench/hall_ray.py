"""Start the Ray Serve engine (``python -m core.serving.app``) on loopback for the lecture-hall test."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

from bench.serve import ROOT, free_port

READY_S = 300  # Ray and two replicas can take a while to start on a busy 2-core machine


@contextlib.contextmanager
def ray_backend(env: dict[str, str], *extra: str) -> Iterator[tuple[str, int]]:
    """Run the engine with ``env`` (same weights as the app); yield its URL and pid; stop it after."""
    port = free_port()
    log = open(os.path.join(env["CONVLENS_HOME"], "ray_serve.log"), "w")  # noqa: SIM115 (closed below)
    command = [sys.executable, "-m", "core.serving.app", "--port", str(port), "--num-cpus", str(os.cpu_count()), *extra]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/convlens"
    try:
        deadline = time.monotonic() + READY_S
        while not _ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Ray Serve did not start (see {log.name})")
            time.sleep(1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/routes", timeout=2) as response:
            return b"/convlens" in response.read()
    except OSError:
        return False
