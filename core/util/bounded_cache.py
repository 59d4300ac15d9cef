"""One thread-safe LRU cache family, bounded both by its number of entries and by the bytes its values hold.

:class:`BoundedCache` computes a missing key ONCE even when several threads (sessions) ask for it
at the same moment: the first caller computes, the others wait for its result (single flight).
An error reaches every waiter and is never cached. Hits, waits and misses are counted.
:class:`core.util.shared_cache.SharedCache` adds a name and the stats file the load test reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
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
        self._pending: dict[Hashable, Future] = {}
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = self.misses = self.waits = 0

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value of ``key``: cached, being computed by another caller (waited for), or computed now."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]
            pending = self._pending.get(key)
            owner = pending is None
            if owner:
                self.misses += 1
                pending = self._pending[key] = Future()
            else:
                self.waits += 1
        if not owner:
            return pending.result()  # raises what the computation raised
        try:
            value = compute()  # outside the lock: callers serialise their own heavy work
        except BaseException as exc:
            with self._lock:
                self._pending.pop(key, None)
            pending.set_exception(exc)
            raise
        self._store(key, value)
        pending.set_result(value)
        return value

    def _store(self, key: Hashable, value: V) -> None:
        size, evicted = self._size(value), []
        with self._lock:
            self._pending.pop(key, None)
            if key in self._items:  # stored meanwhile (after a clear())
                self.nbytes -= self._items.pop(key)[1]
            self._items[key] = (value, size)
            self.nbytes += size
            while len(self._items) > 1 and (len(self._items) > self.max_entries or self.nbytes > self.max_bytes):
                evicted.append(self._pop_oldest())
        if evicted:
            self.evicted(evicted)

    def _pop_oldest(self) -> V:
        """Drop the least recently used entry (the lock is held); its value, referenced nowhere else here."""
        value, size = self._items.popitem(last=False)[1]
        self.nbytes -= size
        return value

    def evicted(self, values: list[V]) -> None:
        """Called outside the lock with the values just dropped (by the bounds or :meth:`clear`); default: nothing."""

    def keys(self) -> list[Hashable]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> dict[str, int]:
        """Hits, waits (joined another caller's computation), misses, entries and bytes."""
        with self._lock:
            entries, nbytes = len(self._items), self.nbytes
        return {"hits": self.hits, "waits": self.waits, "misses": self.misses, "entries": entries, "bytes": nbytes}

    def clear(self) -> None:
        with self._lock:
            dropped = [value for value, _ in self._items.values()]
            self._items.clear()
            self.nbytes = 0
        if dropped:
            self.evicted(dropped)
