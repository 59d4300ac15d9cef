"""The per-browser store on disk: a restart finds it again, within the same bounds; bad files are left out."""

from __future__ import annotations

import json
import math
import pickle
import struct
from pathlib import Path

import pytest

from core.util import BrowserStore
from core.util.stored_values import MAGIC, decode, encode

TOKEN = "secret-browser-token"
PHOTO = ("../../my holiday photo.jpg", b"\xff\xd8 jpeg bytes \x00")


def raw(tree: object) -> bytes:
    """A file in the store's format for the item "bad" whose value part is ``tree`` as written."""
    head = json.dumps({"name": "bad", "order": 1, "value": "VALUE", "blobs": []}).encode()
    head = head.replace(b'"VALUE"', tree if isinstance(tree, bytes) else json.dumps(tree).encode())
    return MAGIC + struct.pack(">Q", len(head)) + head


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_what_a_browser_kept_survives_a_restart(tmp_path: Path) -> None:
    records = [{"image": "a.jpg", "class": "dog", "x1": 1.5, "y1": math.nan, "note": None, "n": 3, "ok": True}]
    kept = {"sb_upload_data": PHOTO, "det_uploads_kept": {"b.png": b"png", "c.png": b""}, "det_gt": ("ab12", records)}
    store = BrowserStore(tmp_path)
    for name, value in kept.items():
        assert store.put(TOKEN, name, value)
    store.put("another", "sb_upload_data", b"x")

    again = BrowserStore(tmp_path)  # a new server process on the same folder
    assert again.names(TOKEN) == list(kept) and len(again) == 2
    assert again.get(TOKEN, "sb_upload_data") == PHOTO and isinstance(again.get(TOKEN, "sb_upload_data"), tuple)
    assert again.get(TOKEN, "det_uploads_kept") == kept["det_uploads_kept"]
    origin, rows = again.get(TOKEN, "det_gt")
    assert origin == "ab12" and math.isnan(rows[0].pop("y1"))
    assert rows == [{k: v for k, v in records[0].items() if k != "y1"}]
    assert again.get("another", "sb_upload_data") == b"x"


def test_the_browser_id_and_user_file_names_are_never_paths(tmp_path: Path) -> None:
    store = BrowserStore(tmp_path)
    store.put(TOKEN, "sb_upload_data", PHOTO)
    store.put(TOKEN, "../escape", b"1")
    paths = files(tmp_path)
    assert len(paths) == 2 and all(p.parent.parent == tmp_path for p in paths)  # inside the folder, one level down
    for path in paths:
        assert TOKEN not in str(path) and "holiday" not in str(path) and "escape" not in str(path)
        assert TOKEN.encode() not in path.read_bytes()


def test_drops_updates_and_evictions_reach_the_disk(tmp_path: Path) -> None:
    store = BrowserStore(tmp_path, max_items_per_browser=2)
    for name in ("one", "two", "three"):  # "one" goes: over the count
        store.put(TOKEN, name, name.encode())
    store.put(TOKEN, "two", b"new two")  # newest now
    store.drop(TOKEN, "thr")
    assert len(files(tmp_path)) == 1
    again = BrowserStore(tmp_path, max_items_per_browser=2)
    assert again.names(TOKEN) == ["two"] and again.get(TOKEN, "two") == b"new two"
    again.put(TOKEN, "four", b"4")
    assert BrowserStore(tmp_path).names(TOKEN) == ["two", "four"]  # the order survives restarts


def test_expired_browsers_are_gone_after_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    BrowserStore(tmp_path, ttl=60, clock=clock).put(TOKEN, "x", b"1")
    BrowserStore(tmp_path, ttl=60, clock=clock).put("fresh", "x", b"1")
    clock.now += 30
    assert BrowserStore(tmp_path, ttl=60, clock=clock).get(TOKEN, "x") == b"1"  # and touched at +30
    clock.now += 61
    again = BrowserStore(tmp_path, ttl=60, clock=clock)
    assert again.get("fresh", "x") is None and again.get(TOKEN, "x") is None and len(again) == 0
    assert files(tmp_path) == []  # the expired folders are removed


def test_bounds_hold_again_when_a_restart_lowers_them(tmp_path: Path) -> None:
    clock = Clock()
    store = BrowserStore(tmp_path, clock=clock)
    for browser in ("old", "mid", "new"):
        clock.now += 1
        for name in ("a", "b", "c"):
            store.put(browser, name, b"x" * 40)
    again = BrowserStore(tmp_path, max_browsers=2, max_bytes_per_browser=100, clock=clock)
    assert len(again) == 2 and again.names("old") == []  # the least recently used browser went
    assert again.names("mid") == again.names("new") == ["b", "c"]  # 120 bytes > 100: the oldest item went
    assert len(files(tmp_path)) == 4


def test_a_value_over_the_bound_is_refused_and_not_written(tmp_path: Path) -> None:
    store = BrowserStore(tmp_path, max_bytes_per_browser=100)
    assert not store.put(TOKEN, "huge", b"x" * 101)
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"not a stored value at all",
        pickle.dumps(("name", b"bytes")),  # never unpickled
        encode("other", 1, b"1")[:-1],  # truncated
        encode("other", 1, b"1") + b"more",
        raw({"d": [[[1], 2]]}),  # a list as a dictionary key
        raw({"d": [[1, 2, 3]]}),
        raw({"b": 5}),  # bytes that are not there
        raw({"x": 1}),
        raw(b"[" * 100_000 + b"]" * 100_000),  # too deep to read
    ],
)
def test_a_corrupt_file_is_left_out_without_a_crash(tmp_path: Path, bad: bytes) -> None:
    store = BrowserStore(tmp_path)
    store.put(TOKEN, "good", b"1")
    store.put(TOKEN, "bad", b"2")
    (folder,) = tmp_path.iterdir()
    (target,) = [p for p in folder.iterdir() if decode(p.read_bytes())[0] == "bad"]
    target.write_bytes(bad)
    (folder / "stray.txt").write_text("left by someone")
    (tmp_path / "not-a-browser").mkdir()
    again = BrowserStore(tmp_path)
    assert again.names(TOKEN) == ["good"] and again.get(TOKEN, "good") == b"1"


def test_a_file_renamed_to_another_item_is_left_out(tmp_path: Path) -> None:
    store = BrowserStore(tmp_path)
    store.put(TOKEN, "a", b"1")
    store.put(TOKEN, "b", b"2")
    (folder,) = tmp_path.iterdir()
    first, second = sorted(folder.iterdir())
    second.write_bytes(first.read_bytes())  # its name says one item, its content another
    assert len(BrowserStore(tmp_path).names(TOKEN)) == 1


def test_an_unwritable_folder_leaves_the_store_in_memory(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the folder should be")
    store = BrowserStore(blocked)
    assert store.put(TOKEN, "x", (1, b"2")) and store.get(TOKEN, "x") == (1, b"2")
    store.put(TOKEN, "object", object())  # cannot be kept on disk: kept in memory
    assert store.names(TOKEN) == ["x", "object"]


def test_values_round_trip_and_other_types_are_named() -> None:
    value = (None, True, 3, 2.5, "é", b"\x00", [1, (2, {"k": b"v", 4: [b""]})])
    assert decode(encode("n", 7, value)) == ("n", 7, value)
    with pytest.raises(TypeError, match="set"):
        encode("n", 1, {1, 2})
