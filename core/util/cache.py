"""The bounded cache of loaded models, shared by every browser session: a :class:`BoundedCache` by count."""

from __future__ import annotations

import gc
import sys
from typing import Protocol, TypeVar

import torch

from core.util.bounded_cache import BoundedCache


class _OnDevice(Protocol):
    device: torch.device


T = TypeVar("T", bound=_OnDevice)


def _no_bytes(_: object) -> int:
    return 0


class ModelCache(BoundedCache[T]):
    """A thread-safe LRU of at most ``max_entries`` loaded models; each key is loaded once even under concurrency.

    Evicted models are dropped and their memory returned (``torch.cuda.empty_cache`` when one
    was on a GPU). Cached models are shared read-only (see :mod:`core.models.loading`).
    """

    def __init__(self, max_entries: int) -> None:
        super().__init__(max_entries, sys.maxsize, _no_bytes)

    def evicted(self, values: list[T]) -> None:
        on_cuda = any(m.device.type == "cuda" for m in values)
        values.clear()  # the last references: the models can be collected now
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()
