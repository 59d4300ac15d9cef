"""Where ConvLens keeps its files, and what the server's operator allows, from the environment.

``CONVLENS_HOME``          root of the app's own folders (default ``~/.cache/convlens``)
``CONVLENS_WEIGHTS_DIR``   extra folder searched for weights (the offline kit; default HOME/weights)
``CONVLENS_DATA_DIR``      datasets offered on the transfer-learning page (default HOME/data)
``CONVLENS_RUNS_DIR``      training runs (default HOME/runs)
``CONVLENS_OFFLINE=1``     never touch the network
``CONVLENS_ALLOW_PT_UPLOADS=1``  accept uploaded Ultralytics ``.pt`` files (pickles: they can run code)
``CONVLENS_DEVICE``        see :mod:`core.config.device`
``CONVLENS_TEACHER_TOKEN`` a secret: a session opened with ``?teacher=<it>`` may cancel any run
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """The app's folders and switches, read from the environment."""

    home: Path
    weights_dir: Path
    data_dir: Path
    runs_dir: Path
    offline: bool
    allow_pt_uploads: bool
    teacher_token: str = ""

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded datasets are kept so that they survive a refresh."""
        return self.home / "uploads"

    @property
    def model_uploads_dir(self) -> Path:
        """Where uploaded models are kept (apart from datasets, so they are never offered as one)."""
        return self.home / "model-uploads"


def get_settings() -> Settings:
    """Read the settings now (cheap; the environment may change between tests)."""
    home = Path(os.environ.get("CONVLENS_HOME") or Path.home() / ".cache" / "convlens").expanduser()

    def folder(var: str, default: str) -> Path:
        return Path(os.environ.get(var) or home / default).expanduser()

    return Settings(
        home=home,
        weights_dir=folder("CONVLENS_WEIGHTS_DIR", "weights"),
        data_dir=folder("CONVLENS_DATA_DIR", "data"),
        runs_dir=folder("CONVLENS_RUNS_DIR", "runs"),
        offline=_flag("CONVLENS_OFFLINE"),
        allow_pt_uploads=_flag("CONVLENS_ALLOW_PT_UPLOADS"),
        teacher_token=os.environ.get("CONVLENS_TEACHER_TOKEN", "").strip(),
    )
