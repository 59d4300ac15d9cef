"""One thread-safe LRU cache, bounded both by its number of entries and by the bytes its values hold."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


def _nbytes(value: object) -> int:
    return int(getattr(value, "nbytes", 0))


class BoundedCache(Generic[V]):
    """Least recently used entries go first once there are more than ``max_entries`` or ``max_bytes``.

    ``size(value)`` gives a value's bytes (default: its ``nbytes``). The newest entry is always
    kept, even alone over the byte bound, so that the caller gets what it asked for.
    """

    def __init__(self, max_entries: int, max_bytes: int, size: Callable[[V], int] = _nbytes) -> None:
        self.max_entries, self.max_bytes, self._size = max_entries, max_bytes, size
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value of ``key``, or ``compute()`` stored under it."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: callers serialise their own heavy work
        with self._lock:
            if key in self._items:  # computed meanwhile by another thread
                self.nbytes -= self._items.pop(key)[1]
            size = self._size(value)
            self._items[key] = (value, size)
            self.nbytes += size
            while len(self._items) > 1 and (len(self._items) > self.max_entries or self.nbytes > self.max_bytes):
                self.nbytes -= self._items.popitem(last=False)[1][1]
        return value

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0
