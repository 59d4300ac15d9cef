"""The browser store's folder: one folder per browser (a hash of its id), one file per item (a hash of its name).

A browser's last use is its folder's modification time. Every disk error is logged and
ignored: the store keeps working in memory.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
from pathlib import Path

from core.util.files import write_atomic
from core.util.stored_values import decode, encode

log = logging.getLogger("convlens")
SUFFIX = ".item"
_HASH = re.compile(r"[0-9a-f]{40}")
_SLACK = 1 << 16  # a file's header and structure, over the value's own bytes


def file_name(name: str) -> str:
    """The item's file name: a hash of its name, never the name itself (it may be a user's file name)."""
    return hashlib.sha256(name.encode()).hexdigest()[:40] + SUFFIX


class BrowserDisk:
    """Reads and writes the store's folder; never raises for a disk that fails or a file that is bad."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _fail(self, what: str, exc: Exception) -> None:
        log.warning("Browser store: could not %s in %s (%s); kept in memory only.", what, self.folder, exc)

    def save(self, key: str, name: str, order: int, value: object, seen: float) -> None:
        """Write the item atomically (a value that cannot be kept on disk stays in memory)."""
        try:
            data = encode(name, order, value)
            (self.folder / key).mkdir(parents=True, exist_ok=True)
            write_atomic(self.folder / key / file_name(name), data)
        except (OSError, TypeError) as exc:
            self._fail(f"keep {type(value).__name__}", exc)
        self.touch(key, seen)

    def touch(self, key: str, seen: float) -> None:
        """Record when the browser last used the store."""
        with contextlib.suppress(OSError):  # not written yet, or gone: nothing to record
            os.utime(self.folder / key, (seen, seen))

    def remove(self, key: str, name: str) -> None:
        try:
            (self.folder / key / file_name(name)).unlink(missing_ok=True)
        except OSError as exc:
            self._fail("remove an item", exc)

    def remove_browser(self, key: str) -> None:
        shutil.rmtree(self.folder / key, ignore_errors=True)

    def load(self, max_bytes: int) -> list[tuple[str, float, list[tuple[int, str, object]]]]:
        """Every browser's (hashed id, last use, [(order, name, value)]); unreadable files are left out."""
        try:
            folders = [p for p in self.folder.iterdir() if _HASH.fullmatch(p.name) and p.is_dir()]
        except OSError:
            return []  # no folder yet
        found = []
        for folder in folders:
            try:
                seen = folder.stat().st_mtime
                items = [item for path in folder.iterdir() if (item := self._read(path, max_bytes)) is not None]
            except OSError as exc:
                self._fail("read a browser's folder", exc)
                continue
            found.append((folder.name, seen, items))
        return found

    def _read(self, path: Path, max_bytes: int) -> tuple[int, str, object] | None:
        if path.name.startswith("."):  # a write that never finished
            path.unlink(missing_ok=True)
            return None
        try:
            if path.suffix != SUFFIX or path.stat().st_size > max_bytes + _SLACK:
                raise ValueError("not an item of this store, or over the bound")
            name, order, value = decode(path.read_bytes())
            if file_name(name) != path.name:
                raise ValueError("its name does not match its file name")
        except (OSError, ValueError, RecursionError) as exc:
            log.warning("Browser store: left out %s (%s).", path, exc)
            return None
        return order, name, value
