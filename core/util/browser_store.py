"""What one browser left on the server (its uploads, its edits), so that a refresh finds it again.

A browser is known by a secret id that it keeps in its URL (like the ``?owner=`` token of
training runs). Everything is bounded: items per browser, bytes per browser, browsers in
all (the least recently used goes first), and an item expires ``ttl`` seconds after its
browser last touched the store. Kept in memory only: a server restart forgets it all.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

DAY = 24 * 3600


def _size(value: object) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(_size(v) for v in value) + 64
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items()) + 64
    return sys.getsizeof(value)


class BrowserStore:
    """``put``/``get``/``drop`` values by (browser id, name), within the bounds given here."""

    def __init__(
        self,
        max_browsers: int = 64,
        max_bytes_per_browser: int = 64 * 2**20,
        max_items_per_browser: int = 64,
        ttl: float = DAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_browsers, self.max_bytes, self.max_items = max_browsers, max_bytes_per_browser, max_items_per_browser
        self.ttl, self._clock = ttl, clock
        self._browsers: OrderedDict[str, tuple[float, OrderedDict[str, object]]] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for browser in [b for b, (seen, _) in self._browsers.items() if now - seen > self.ttl]:
            del self._browsers[browser]

    def _items(self, browser: str, now: float) -> OrderedDict[str, object]:
        self._expire(now)
        items = self._browsers.pop(browser, (now, OrderedDict()))[1]
        self._browsers[browser] = (now, items)  # most recently used last
        while len(self._browsers) > self.max_browsers:
            self._browsers.popitem(last=False)
        return items

    def put(self, browser: str, name: str, value: object) -> bool:
        """Keep ``value``; False (and nothing kept) when it alone is over the per-browser bound.

        Older items of the same browser go first when the new one does not fit.
        """
        if not browser:
            raise ValueError("browser is empty: pass the id kept in the browser's URL.")
        if _size(value) > self.max_bytes:
            return False
        with self._lock:
            items = self._items(browser, self._clock())
            items.pop(name, None)
            items[name] = value
            while len(items) > self.max_items or sum(_size(v) for v in items.values()) > self.max_bytes:
                items.popitem(last=False)
        return True

    def get(self, browser: str, name: str, default: object = None) -> object:
        """The value kept under ``name`` for ``browser``, or ``default``."""
        if not browser:
            return default
        with self._lock:
            now = self._clock()
            self._expire(now)
            if browser not in self._browsers:
                return default
            return self._items(browser, now).get(name, default)

    def drop(self, browser: str, prefix: str = "") -> None:
        """Forget the browser's items whose names start with ``prefix`` (all of them by default)."""
        with self._lock:
            if browser in self._browsers:
                items = self._browsers[browser][1]
                for name in [n for n in items if n.startswith(prefix)]:
                    del items[name]

    def names(self, browser: str) -> list[str]:
        """The names kept for ``browser``, oldest first."""
        with self._lock:
            return list(self._browsers[browser][1]) if browser in self._browsers else []

    def __len__(self) -> int:
        with self._lock:
            return len(self._browsers)
