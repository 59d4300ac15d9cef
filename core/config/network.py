"""Can this server download anything? Asked before offering a download button, not after it fails."""

from __future__ import annotations

import socket
import threading
import time
import urllib.parse

from core.config.settings import get_settings

_CHECKED: dict[str, tuple[float, str | None]] = {}
_LOCK = threading.Lock()
REMEMBER_SECONDS = 60.0


def _probe(host: str, port: int, timeout: float) -> str | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host} cannot be reached from this server ({type(exc).__name__}: {exc.strerror or exc})"


def offline_reason(url: str | None, timeout: float = 1.5) -> str | None:
    """Why ``url`` cannot be downloaded from this server, or None when its host answers.

    ``CONVLENS_OFFLINE`` says so at once; otherwise one TCP connection to the host is tried
    (the answer is remembered for a minute, so pages can ask on every run).
    """
    if get_settings().offline:
        return "this server is set to work offline (CONVLENS_OFFLINE is set)"
    parts = urllib.parse.urlsplit(url or "")
    if parts.scheme == "file" or not parts.hostname:
        return None
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    now = time.monotonic()
    with _LOCK:
        cached = _CHECKED.get(f"{host}:{port}")
    if cached is not None and now - cached[0] < REMEMBER_SECONDS:
        return cached[1]
    reason = _probe(host, port, timeout)
    with _LOCK:
        _CHECKED[f"{host}:{port}"] = (now, reason)
    return reason
