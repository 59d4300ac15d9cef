"""Shared fixtures: every test runs offline, with the app's folders in a temporary place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

os.environ.setdefault("YOLO_OFFLINE", "1")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """App folders and the torch hub cache in a temporary directory; no network."""
    home = tmp_path_factory.mktemp("convlens_home")
    monkeypatch.setenv("CONVLENS_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("CONVLENS_OFFLINE", "1")
    for var in ("CONVLENS_WEIGHTS_DIR", "CONVLENS_DATA_DIR", "CONVLENS_RUNS_DIR", "CONVLENS_DEVICE"):
        monkeypatch.delenv(var, raising=False)
    return home


def shared_path(*parts: str) -> Path:
    """A file from ../shared, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (../shared holds the real test data; see its README)")
    return path
