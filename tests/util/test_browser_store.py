"""The per-browser store on the server: bounded by items, bytes and browsers, and expiring."""

from __future__ import annotations

import pytest

from core.util import BrowserStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_values_are_kept_per_browser() -> None:
    store = BrowserStore()
    store.put("a", "photo", ("cat.jpg", b"123"))
    assert store.get("a", "photo") == ("cat.jpg", b"123")
    assert store.get("b", "photo") is None
    assert store.get("", "photo", "none") == "none"
    with pytest.raises(ValueError, match="browser"):
        store.put("", "photo", b"1")


def test_bytes_and_items_per_browser_are_bounded_oldest_first() -> None:
    store = BrowserStore(max_bytes_per_browser=100, max_items_per_browser=3)
    assert not store.put("a", "huge", b"x" * 101)  # alone over the bound: refused
    for name in ("one", "two", "three", "four"):
        assert store.put("a", name, b"x" * 10)
    assert store.names("a") == ["two", "three", "four"]
    store.put("a", "big", b"x" * 90)  # 30 + 90 > 100: the oldest go until it fits
    assert store.names("a") == ["four", "big"]


def test_least_recently_used_browser_goes_and_idle_browsers_expire() -> None:
    clock = Clock()
    store = BrowserStore(max_browsers=2, ttl=60, clock=clock)
    store.put("a", "x", b"1")
    store.put("b", "x", b"1")
    assert store.get("a", "x") == b"1"  # a is now the most recent
    store.put("c", "x", b"1")
    assert store.get("b", "x") is None and store.get("a", "x") == b"1"
    clock.now = 61
    assert store.get("a", "x") is None and len(store) == 0


def test_drop_removes_by_prefix() -> None:
    store = BrowserStore()
    for name in ("det_gt_rows", "det_uploads_kept", "sb_upload_data"):
        store.put("a", name, b"1")
    store.drop("a", "det_gt")
    assert store.names("a") == ["det_uploads_kept", "sb_upload_data"]
    store.drop("a")
    assert store.names("a") == []
