"""What one browser left on the server (its uploads, its edits), so that a refresh finds it again.

A browser is known by a secret id that it keeps in its URL (like the ``?owner=`` token of
training runs). Everything is bounded: items per browser, bytes per browser, browsers in
all (the least recently used goes first), and an item expires ``ttl`` seconds after its
browser last touched the store.

Given a folder, the store also keeps everything there, so that a server restart finds it
again: one folder per browser named by a hash of its id (the id itself is never written),
one file per item named by a hash of its name (never the user's file name), written
atomically in a format that cannot run code (:mod:`core.util.stored_values`). The folder is
read on first use; a file that cannot be read is left out, and a disk that cannot be written
leaves the store working in memory.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from core.util.browser_disk import BrowserDisk

DAY = 24 * 3600
log = logging.getLogger("convlens")
Items = OrderedDict[str, object]


def _size(value: object) -> int:
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, tuple | list):
        return sum(_size(v) for v in value) + 64
    if isinstance(value, dict):
        return sum(_size(k) + _size(v) for k, v in value.items()) + 64
    return sys.getsizeof(value)


def _hashed(browser: str) -> str:
    return hashlib.sha256(browser.encode()).hexdigest()[:40]


class BrowserStore:
    """``put``/``get``/``drop`` values by (browser id, name), within the bounds given here; on disk in ``folder``."""

    def __init__(
        self,
        folder: Path | None = None,
        max_browsers: int = 64,
        max_bytes_per_browser: int = 64 * 2**20,
        max_items_per_browser: int = 64,
        ttl: float = DAY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_browsers, self.max_bytes, self.max_items = max_browsers, max_bytes_per_browser, max_items_per_browser
        self.ttl, self._clock = ttl, clock
        self._browsers: OrderedDict[str, tuple[float, Items]] = OrderedDict()  # by hashed id, least recent first
        self._order: dict[str, dict[str, int]] = {}  # item -> its put counter, for the files' order
        self._count = 0
        self._disk = BrowserDisk(Path(folder)) if folder is not None else None
        self._loaded = folder is None
        self._lock = threading.Lock()

    def _load(self) -> None:
        """Read the folder once (under the lock): expired browsers go, the bounds hold again."""
        if self._loaded:
            return
        self._loaded = True
        now = self._clock()
        for key, seen, found in sorted(self._disk.load(self.max_bytes), key=lambda b: b[1]):
            if now - seen > self.ttl:
                self._disk.remove_browser(key)
                continue
            found.sort()
            self._browsers[key] = (seen, OrderedDict((name, value) for _, name, value in found))
            self._order[key] = {name: order for order, name, _ in found}
            self._count = max([self._count, *self._order[key].values()])
            self._fit(key)
        self._evict_browsers()

    def _expire(self, now: float) -> None:
        for key in [k for k, (seen, _) in self._browsers.items() if now - seen > self.ttl]:
            self._forget_browser(key)

    def _forget_browser(self, key: str) -> None:
        del self._browsers[key]
        self._order.pop(key, None)
        if self._disk:
            self._disk.remove_browser(key)

    def _evict_browsers(self) -> None:
        while len(self._browsers) > self.max_browsers:
            self._forget_browser(next(iter(self._browsers)))

    def _items(self, key: str, now: float) -> Items:
        """The browser's items, touched now (most recently used last)."""
        self._expire(now)
        items = self._browsers.pop(key, (now, OrderedDict()))[1]
        self._browsers[key] = (now, items)
        self._evict_browsers()
        if self._disk:
            self._disk.touch(key, now)
        return items

    def _fit(self, key: str) -> None:
        """Drop the browser's oldest items until the count and bytes bounds hold."""
        items = self._browsers[key][1]
        while len(items) > self.max_items or sum(_size(v) for v in items.values()) > self.max_bytes:
            self._remove(key, next(iter(items)))

    def _remove(self, key: str, name: str) -> None:
        del self._browsers[key][1][name]
        self._order.get(key, {}).pop(name, None)
        if self._disk:
            self._disk.remove(key, name)

    def put(self, browser: str, name: str, value: object) -> bool:
        """Keep ``value``; False (and nothing kept) when it alone is over the per-browser bound.

        Older items of the same browser go first when the new one does not fit.
        """
        if not browser:
            raise ValueError("browser is empty: pass the id kept in the browser's URL.")
        if _size(value) > self.max_bytes:
            return False
        key = _hashed(browser)
        with self._lock:
            self._load()
            now = self._clock()
            items = self._items(key, now)
            items.pop(name, None)
            items[name] = value
            self._count += 1
            self._order.setdefault(key, {})[name] = self._count
            self._fit(key)
            if self._disk and name in items:
                self._disk.save(key, name, self._count, value, now)
        return True

    def get(self, browser: str, name: str, default: object = None) -> object:
        """The value kept under ``name`` for ``browser``, or ``default``."""
        if not browser:
            return default
        key = _hashed(browser)
        with self._lock:
            self._load()
            now = self._clock()
            self._expire(now)
            if key not in self._browsers:
                return default
            return self._items(key, now).get(name, default)

    def drop(self, browser: str, prefix: str = "") -> None:
        """Forget the browser's items whose names start with ``prefix`` (all of them by default)."""
        key = _hashed(browser)
        with self._lock:
            self._load()
            if key in self._browsers:
                seen, items = self._browsers[key]
                for name in [n for n in items if n.startswith(prefix)]:
                    self._remove(key, name)
                if self._disk:
                    self._disk.touch(key, seen)

    def names(self, browser: str) -> list[str]:
        """The names kept for ``browser``, oldest first."""
        key = _hashed(browser)
        with self._lock:
            self._load()
            return list(self._browsers[key][1]) if key in self._browsers else []

    def __len__(self) -> int:
        with self._lock:
            self._load()
            return len(self._browsers)
