"""Device policy: CUDA, then Apple MPS, then CPU; ``CONVLENS_DEVICE`` overrides.

Inference runs under :func:`torch.inference_mode` and, on CUDA, under autocast
(bfloat16 where the GPU supports it, else float16). On CPU everything stays float32.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass

import torch

ENV_VAR = "CONVLENS_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def pick_device(preference: str | None = None) -> torch.device:
    """Return the device to compute on.

    Args:
        preference: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. ``None``
            reads ``CONVLENS_DEVICE`` (empty means auto).

    Raises:
        ValueError: the preference names no device, or one this machine does not have.
    """
    pref = (os.environ.get(ENV_VAR, "") if preference is None else preference).strip().lower()
    if pref in {"", "auto"}:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(pref)
    except RuntimeError:
        raise ValueError(f"{ENV_VAR}={pref!r} is not a device; use auto, cpu, cuda, cuda:N or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{ENV_VAR}={pref!r} but this machine has no usable CUDA GPU; use auto or cpu.")
    if device.type == "mps" and not _mps_available():
        raise ValueError(f"{ENV_VAR}={pref!r} but Apple MPS is not available here; use auto or cpu.")
    if device.type not in {"cpu", "cuda", "mps"}:
        raise ValueError(f"{ENV_VAR}={pref!r}: only cpu, cuda and mps are supported.")
    return device


@functools.cache
def default_device() -> torch.device:
    """The device chosen at start-up (cached: the policy does not change while serving)."""
    return pick_device()


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The reduced precision used for inference on ``device``, or None for float32."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def inference(device: torch.device) -> Iterator[None]:
    """Inference mode plus autocast where it is safe (CUDA only)."""
    dtype = autocast_dtype(device)
    with torch.inference_mode():
        if dtype is None:
            yield
        else:
            with torch.autocast(device_type="cuda", dtype=dtype):
                yield


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that wall-clock timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


@dataclass(frozen=True)
class DeviceInfo:
    """What the sidebar shows about the compute device."""

    device: str
    name: str
    precision: str

    @property
    def label(self) -> str:
        return f"{self.name} · {self.precision}"


def describe(device: torch.device | None = None) -> DeviceInfo:
    """Describe ``device`` (default: the chosen one) for people."""
    device = device or default_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        name = f"GPU: {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    elif device.type == "mps":
        name = "Apple GPU (MPS)"
    else:
        threads = torch.get_num_threads()
        name = f"CPU: {platform.machine()}, {threads} thread{'s' if threads != 1 else ''}"
    dtype = autocast_dtype(device)
    precision = "float32" if dtype is None else f"autocast {str(dtype).removeprefix('torch.')}"
    return DeviceInfo(device=str(device), name=name, precision=precision)
