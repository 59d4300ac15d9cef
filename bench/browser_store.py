"""The per-browser store on disk against the same store in memory: ``python -m bench.browser_store``.

What keeping uploads across a server restart costs (:mod:`core.util.browser_store`): one
``put`` of a phone photo (written atomically), one ``get`` (it records the browser's last use),
and the first use after a restart (every browser's files read back). Peers in the same run:
the store in memory only (what it was), and for the restart, reading the same files with
``Path.read_bytes`` (the floor: the bytes have to come back from disk).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.common import Row, median_seconds, table
from core.util import BrowserStore

PHOTO = ("my photo.jpg", os.urandom(4 * 2**20))
NO_TARGET = "none in DESIGN.md"


def _put_get(folder: Path) -> list[Row]:
    disk, memory = BrowserStore(folder / "put"), BrowserStore()
    put_ours = median_seconds(lambda: disk.put("browser", "sb_upload_data", PHOTO))
    put_peer = median_seconds(lambda: memory.put("browser", "sb_upload_data", PHOTO))
    get_ours = median_seconds(lambda: disk.get("browser", "sb_upload_data"), repeat=51)
    get_peer = median_seconds(lambda: memory.get("browser", "sb_upload_data"), repeat=51)
    return [
        Row("browser store: put a 4 MB photo (on disk)", put_ours * 1e3, "in memory", put_peer * 1e3, NO_TARGET),
        Row("browser store: get it (touches the folder)", get_ours * 1e6, "in memory", get_peer * 1e6, NO_TARGET, "µs"),
    ]


def _restart(folder: Path, browsers: int) -> Row:
    store = BrowserStore(folder / "restart")
    for n in range(browsers):
        store.put(f"browser-{n}", "sb_upload_data", (f"photo {n}.jpg", os.urandom(2**20)))
        store.put(f"browser-{n}", "det_uploads_kept", {"a.png": os.urandom(2**20)})
    files = [p for p in (folder / "restart").rglob("*") if p.is_file()]
    ours = median_seconds(lambda: len(BrowserStore(folder / "restart")), repeat=5)
    peer = median_seconds(lambda: [p.read_bytes() for p in files], repeat=5)
    what = f"browser store: first use after a restart ({browsers} browsers, {browsers * 2} MB)"
    return Row(what, ours * 1e3, "read_bytes of its files", peer * 1e3, NO_TARGET)


def rows(browsers: int = 16) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        return [*_put_get(Path(tmp)), _restart(Path(tmp), browsers)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browsers", type=int, default=16, help="browsers kept before the restart (2 MB each)")
    print(table(rows(parser.parse_args().browsers)))
