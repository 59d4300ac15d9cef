"""Results every session shares, computed once: bounded, single-flight caches with hit counts.

A lecture hall opens the same sample photo thirty times at once. :class:`SharedCache` keys a
result by what determines it (model, weights, image digest, layer, class, settings), keeps it
for every session, and lets only ONE caller compute a missing key: the others wait for that
result instead of running the model again. Entries are bounded by count and by bytes (least
recently used go first; the newest is always kept). Errors are passed to every waiter and
never cached. Hits and misses are counted; with ``CONVLENS_STATS_FILE`` set, the counts of
every cache are written there as JSON every two seconds (the load test reads them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch
from PIL import Image

T = TypeVar("T")
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


class SharedCache:
    """A thread-safe LRU shared by all sessions, bounded by entries and bytes, one computation per key."""

    def __init__(self, name: str, max_entries: int, max_bytes: int, sizeof: Callable[[Any], int] = estimate_bytes):
        self.name, self.max_entries, self.max_bytes, self.sizeof = name, max_entries, max_bytes, sizeof
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self.hits = self.misses = self.waits = self.bytes = 0
        _REGISTRY[name] = self
        _start_stats_writer()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The value of ``key``: cached, being computed by another caller (waited for), or computed now."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            pending = self._pending.get(key)
            if pending is None:
                self.misses += 1
                pending = self._pending[key] = Future()
                owner = True
            else:
                self.waits += 1
                owner = False
        if not owner:
            return pending.result()  # raises what the computation raised
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                self._pending.pop(key, None)
            pending.set_exception(exc)
            raise
        self._store(key, value)
        pending.set_result(value)
        return value

    def _store(self, key: Hashable, value: Any) -> None:
        size = self.sizeof(value)
        with self._lock:
            self._pending.pop(key, None)
            self._items[key] = (value, size)
            self.bytes += size
            while len(self._items) > 1 and (len(self._items) > self.max_entries or self.bytes > self.max_bytes):
                self.bytes -= self._items.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        with self._lock:
            entries = len(self._items)
        return {"hits": self.hits, "waits": self.waits, "misses": self.misses, "entries": entries, "bytes": self.bytes}

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = 0


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
