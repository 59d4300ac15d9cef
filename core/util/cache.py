"""One bounded cache: a thread-safe LRU of loaded models, shared by every browser session."""

from __future__ import annotations

import gc
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import torch


class _OnDevice(Protocol):
    device: torch.device


T = TypeVar("T", bound=_OnDevice)


class ModelCache(Generic[T]):
    """A thread-safe LRU of loaded models; each key is loaded once even under concurrency.

    Evicted models are dropped and their memory returned (``torch.cuda.empty_cache`` when one
    was on a GPU). Cached models are shared read-only (see :mod:`core.models.loading.loading`).
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._models: OrderedDict[tuple, T] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[tuple, threading.Lock] = {}

    def get(self, cache_key: tuple, load: Callable[[], T]) -> T:
        with self._lock:
            if cache_key in self._models:
                self._models.move_to_end(cache_key)
                return self._models[cache_key]
            key_lock = self._loading.setdefault(cache_key, threading.Lock())
        with key_lock:
            with self._lock:
                if cache_key in self._models:
                    return self._models[cache_key]
            model = load()
            with self._lock:
                self._models[cache_key] = model
                evicted = []
                while len(self._models) > self.max_entries:
                    evicted.append(self._models.popitem(last=False)[1])
                self._loading.pop(cache_key, None)
        if evicted:
            self._release(evicted)
        return model

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            evicted = list(self._models.values())
            self._models.clear()
        self._release(evicted)

    @staticmethod
    def _release(evicted: list[T]) -> None:
        on_cuda = any(m.device.type == "cuda" for m in evicted)
        evicted.clear()
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()
