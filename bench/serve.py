"""Start a Streamlit script on a free localhost port (browser tests, start-up and load benchmarks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright drives it with executable_path
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    """Poll Streamlit's health endpoint until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"streamlit did not answer at {url} within {timeout} s")


def offline_env(home: Path) -> dict[str, str]:
    """The environment of a server whose folders are under ``home`` and which never downloads."""
    return {
        **os.environ,
        "CONVLENS_HOME": str(home),
        "TORCH_HOME": str(home / "torch"),
        "CONVLENS_OFFLINE": "1",
        "YOLO_OFFLINE": "1",
    }


@contextlib.contextmanager
def serve(
    script: str | Path, env: dict[str, str], log: Path, root: Path = ROOT, launcher: Sequence[str] | None = None
) -> Iterator[tuple[str, subprocess.Popen]]:
    """Run ``streamlit run script`` from ``root``, headless on a free port; yield its URL and process.

    ``launcher`` replaces ``python -m streamlit run script`` (e.g. ``python -m dashboard``); the
    server options follow it.
    """
    port = free_port()
    command = [
        *(launcher or (sys.executable, "-m", "streamlit", "run", str(script))),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(url, process)
            yield url, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
