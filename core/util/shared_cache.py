"""Results every session shares, computed once: bounded, single-flight caches with hit counts.

A lecture hall opens the same sample photo thirty times at once. :class:`SharedCache` keys a
result by what determines it (model, weights, image digest, layer, class, settings) and keeps it
for every session; its bounds, single flight (one computation per key, the others wait) and
counts are :class:`core.util.bounded_cache.BoundedCache`'s. It adds a name; with
``CONVLENS_STATS_FILE`` set, the counts of every cache are written there as JSON every two
seconds (the load test reads them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from core.util.bounded_cache import BoundedCache

STATS_ENV = "CONVLENS_STATS_FILE"


def estimate_bytes(value: Any, _depth: int = 0) -> int:
    """Memory held by ``value``: arrays, tensors, images and bytes, through dataclasses and containers."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    if isinstance(value, bytes | bytearray | str):
        return len(value)
    if _depth > 6:
        return sys.getsizeof(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif isinstance(value, dict):
        items = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return sys.getsizeof(value)
    return 64 + sum(estimate_bytes(item, _depth + 1) for item in items)


class SharedCache(BoundedCache[Any]):
    """A :class:`BoundedCache` shared by all sessions, under a name, its counts in :func:`all_stats`."""

    def __init__(self, name: str, max_entries: int, max_bytes: int, sizeof: Callable[[Any], int] = estimate_bytes):
        super().__init__(max_entries, max_bytes, sizeof)
        self.name = name
        _REGISTRY[name] = self
        _start_stats_writer()


_REGISTRY: dict[str, SharedCache] = {}
_writer: threading.Thread | None = None


_PROVIDERS: dict[str, Callable[[], dict[str, int]]] = {}


def register_stats(name: str, provider: Callable[[], dict[str, int]]) -> None:
    """Add ``provider()``'s counts (e.g. a micro-batcher's) to :func:`all_stats` under ``name``."""
    _PROVIDERS[name] = provider


def all_stats() -> dict[str, dict[str, int]]:
    """Counts of every shared cache made so far, and of the registered providers, by name."""
    stats = {name: cache.stats() for name, cache in list(_REGISTRY.items())}
    return stats | {name: provider() for name, provider in list(_PROVIDERS.items())}


def _start_stats_writer() -> None:
    global _writer
    target = os.environ.get(STATS_ENV)
    if not target or _writer is not None:
        return

    def write() -> None:
        path, last = Path(target), ""
        while True:
            text = json.dumps(all_stats())
            if text != last:
                partial = path.with_suffix(".partial")
                partial.write_text(text)
                partial.replace(path)
                last = text
            time.sleep(2.0)

    _writer = threading.Thread(target=write, name="convlens-cache-stats", daemon=True)
    _writer.start()
