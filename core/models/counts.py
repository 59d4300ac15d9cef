"""Parameters and multiply-adds of the models torchvision has no metadata for, counted once and kept on disk.

Counting runs the architecture on the ``meta`` device (shapes only: no memory, no arithmetic),
and the counts are kept in ``CONVLENS_HOME/cache/card_counts.json`` keyed by the model, the input
size and its weights file (name, size, modification time), with the PyTorch version and this
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
from torch.utils.flop_counter import FlopCounterMode

from core.config.settings import get_settings
from core.util.files import write_atomic

FORMAT = 1  # bump when what is counted changes
log = logging.getLogger(__name__)


def cache_path() -> Path:
    """Where the counts are kept (under ``CONVLENS_HOME``)."""
    return get_settings().home / "cache" / "card_counts.json"


def multiply_adds(model: nn.Module, size: int) -> int:
    """Multiply-adds of one forward pass on a ``size`` x ``size`` image (torchvision's "GFLOPs" count these).

    ``model`` may live on the ``meta`` device: the count needs only shapes.
    """
    device = next(model.parameters(), torch.empty(0)).device
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size, device=device))
    return counter.get_total_flops() // 2


def count(build: Callable[[], nn.Module], size: int) -> tuple[int, int]:
    """(parameters, multiply-adds at ``size``) of the architecture ``build`` makes, counted on the meta device."""
    try:
        with torch.device("meta"):
            model = build().eval()
    except NotImplementedError:  # a builder that computes with real tensors
        model = build().to("meta").eval()
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
