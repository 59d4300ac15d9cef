"""The model cache: one load per key under concurrency, least recently used out first, memory given back."""

from __future__ import annotations

import threading
import time
import weakref

import pytest
import torch

from core.util import BoundedCache, ModelCache


class Model:
    """Stands for a loaded model: all the cache reads is its device."""

    def __init__(self, name: str) -> None:
        self.name, self.device = name, torch.device("cpu")


def test_a_key_loads_once_while_many_threads_ask_for_it() -> None:
    cache: ModelCache[Model] = ModelCache(2)
    loads, barrier, got = [], threading.Barrier(5), []

    def load() -> Model:
        loads.append(1)
        time.sleep(0.1)
        return Model("a")

    def ask() -> None:
        barrier.wait()
        got.append(cache.get(("a",), load))

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len(got) == 5 and all(m is got[0] for m in got)
    assert isinstance(cache, BoundedCache) and cache.stats()["misses"] == 1


def test_least_recently_used_model_goes_first_and_is_freed() -> None:
    cache: ModelCache[Model] = ModelCache(2)
    a = cache.get(("a",), lambda: Model("a"))
    gone = weakref.ref(cache.get(("b",), lambda: Model("b")))
    cache.get(("a",), pytest.fail)  # a hit: a is now the most recent
    cache.get(("c",), lambda: Model("c"))
    assert cache.keys() == [("a",), ("c",)]
    assert gone() is None  # b was dropped and collected, not kept alive by the cache
    assert cache.get(("a",), pytest.fail) is a


def test_a_failed_load_is_not_cached_and_clear_frees_everything() -> None:
    cache: ModelCache[Model] = ModelCache(2)
    with pytest.raises(OSError, match="no file"):
        cache.get(("x",), lambda: (_ for _ in ()).throw(OSError("no file")))
    assert cache.keys() == []
    kept = weakref.ref(cache.get(("x",), lambda: Model("x")))
    cache.clear()
    assert cache.keys() == [] and kept() is None
