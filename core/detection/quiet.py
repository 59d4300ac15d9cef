"""Third-party libraries kept offline, silent and inside ``CONVLENS_HOME``, and their loaders safe.

* OpenVINO's Python package sends a telemetry event when it is imported (``openvino.tools.ovc``
  calls ``openvino_telemetry``, which assumes consent when no consent file exists) and writes
  ``~/intel/stats`` and a client id. ``openvino_telemetry`` keeps its consent file, statistics
  and client id under ``OptInChecker.consent_file_base_dir()``; that folder is pointed at
  ``CONVLENS_HOME/openvino`` and a consent file saying "0" (opted out, as ``opt_in_out
  --opt_out`` writes) is put there, so the consent check declines: nothing is sent or counted.
* ONNX Runtime, when installed, writes a telemetry device id to
  ``~/.cache/Microsoft/DeveloperTools/.onnxruntime/`` on its first session unless
  ``ORT_DISABLE_TELEMETRY=1`` (read by its native library; checked by the adversarial tests).
* ``ULTRALYTICS_SAFE_LOAD=1`` makes Ultralytics read ``.pt`` checkpoints with
  ``torch.load(weights_only=True)`` and an allow-list of its own model classes: a ``.pt`` that
  would run code when unpickled is refused instead.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from core.config.settings import get_settings

OPTED_OUT = "0"  # openvino_telemetry's consent file: "1" accepted, "0" declined


def telemetry_home() -> Path:
    """Where OpenVINO's telemetry package looks for its (opted-out) consent file."""
    return get_settings().home / "openvino"


@functools.cache
def silence_openvino() -> None:
    """Opt out of OpenVINO telemetry before ``openvino`` is first imported; nothing is written outside HOME."""
    try:
        from openvino_telemetry.utils.opt_in_checker import OptInChecker
    except ImportError:  # no OpenVINO on this machine: nothing to silence
        return
    base = telemetry_home()
    consent = base / OptInChecker.consent_file_subdirectory() / "openvino_telemetry"
    consent.parent.mkdir(parents=True, exist_ok=True)
    if not consent.is_file() or consent.read_text().strip() != OPTED_OUT:
        consent.write_text(OPTED_OUT)
    OptInChecker.consent_file_base_dir = staticmethod(lambda: str(base))


def silence_onnxruntime() -> None:
    """Switch ONNX Runtime's telemetry (and its device-id file in the home folder) off; set before it loads."""
    os.environ["ORT_DISABLE_TELEMETRY"] = "1"


def safe_ultralytics_loading() -> None:
    """Make Ultralytics unpickle ``.pt`` files with ``weights_only=True`` (set before it is imported)."""
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"
