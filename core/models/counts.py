"""Parameters and multiply-adds of the models torchvision has no metadata for, counted once and kept on disk.

Counting runs the architecture once on the CPU (these are small models), and the counts are
kept in ``CONVLENS_HOME/cache/card_counts.json`` keyed by the model, the input size and its
weights file (name, size, modification time), with the PyTorch version and this
file's :data:`FORMAT`: a server start reads them instead of counting (the zoo page's card).
A changed weights file, another PyTorch or a damaged cache file means counting again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from core.config.settings import get_settings
from core.util.files import write_atomic

FORMAT = 1  # bump when what is counted changes
log = logging.getLogger(__name__)


def cache_path() -> Path:
    """Where the counts are kept (under ``CONVLENS_HOME``)."""
    return get_settings().home / "cache" / "card_counts.json"


def multiply_adds(model: nn.Module, size: int) -> int:
    """Multiply-adds of one forward pass on a ``size`` x ``size`` image (torchvision's "GFLOPs" count these).

    Counted from each convolution's and linear layer's output shape during one forward pass, as
    PyTorch's ``FlopCounterMode`` counts them (tested equal on the models counted here), without
    it: it loads TorchDynamo (a second of a server's first start).
    """
    total = 0

    def add(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += output.numel() * module.in_features
        else:  # weight (out, in / groups, *kernel) against each output position of each image
            total += output.shape[0] * module.weight.numel() * output.shape[2:].numel()

    counted = [m for m in model.modules() if isinstance(m, nn.Linear | _ConvNd) and not getattr(m, "transposed", False)]
    handles = [m.register_forward_hook(add) for m in counted]
    device = next(model.parameters(), torch.empty(0)).device
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, size, size, device=device))
    finally:
        for handle in handles:
            handle.remove()
    return total


def count(build: Callable[[], nn.Module], size: int) -> tuple[int, int]:
    """(parameters, multiply-adds at ``size``) of the architecture ``build`` makes, on the CPU.

    Not on the ``meta`` device: its BatchNorm loads TorchDynamo too. The models counted here are
    the small ones torchvision has no metadata for (milliseconds on the CPU).
    """
    model = build().eval()
    return sum(p.numel() for p in model.parameters()), multiply_adds(model, size)


def cache_key(key: str, weights: Path | None, size: int) -> str:
    """What the counts depend on: the model, the input size, its weights file as it is now, PyTorch."""
    file = "no weights"
    if weights is not None and weights.is_file():
        stat = weights.stat()
        file = f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}"
    return f"{key}|{size}px|{file}|torch {torch.__version__}|v{FORMAT}"


def _read(path: Path) -> dict[str, list[int]]:
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:  # damaged or unreadable: count again, rewrite it
        log.warning("ignoring the card counts cache %s (%s)", path, exc)
        return {}
    return stored if isinstance(stored, dict) else {}


def cached_count(key: str, build: Callable[[], nn.Module], weights: Path | None, size: int) -> tuple[int, int]:
    """:func:`count`, from the disk cache when it holds this key (written there otherwise)."""
    path, name = cache_path(), cache_key(key, weights, size)
    stored = _read(path)
    value = stored.get(name)
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return value[0], value[1]
    params, madds = count(build, size)
    stored[name] = [params, madds]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(stored, indent=1, sort_keys=True).encode())
    except OSError as exc:  # a read-only home: count again at the next start
        log.warning("cannot keep the card counts in %s (%s)", path, exc)
    return params, madds
