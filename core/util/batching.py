"""Micro-batching: concurrent requests for the same model run as ONE forward (and backward) pass.

Streamlit runs each session's script in its own thread. When several sessions ask the same
model for work at the same moment, :class:`MicroBatcher` lets the first caller wait a few
milliseconds (:data:`core.config.limits.BATCH_WAIT_MS`) for others to join, up to
:data:`core.config.limits.BATCH_MAX` requests, then runs them all in one call of the batch function
and hands each caller its own result. There is no extra thread: the first caller of a batch
is its leader and does the work; an error in the batch reaches every caller in it. While one batch of a
group runs, the next keeps collecting requests until it can run: under load, batches grow
by themselves.
Results equal one-at-a-time results (tested): rows of a batch are independent in eval mode.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import torch

from core.config import limits

Req = TypeVar("Req")
Res = TypeVar("Res")


def batch_max() -> int:
    """Requests per batch (``CONVLENS_BATCH_MAX`` overrides :data:`core.config.limits.BATCH_MAX`; 1: no batching)."""
    return max(1, int(os.environ.get("CONVLENS_BATCH_MAX") or limits.BATCH_MAX))


def batch_wait_s() -> float:
    """How long a batch's leader waits for others (``CONVLENS_BATCH_WAIT_MS`` overrides the limit)."""
    return max(0.0, float(os.environ.get("CONVLENS_BATCH_WAIT_MS") or limits.BATCH_WAIT_MS)) / 1000


# One batch computes at a time in this process, with every core (configure_threads): two batches at
# once would each start a pool of that many threads and oversubscribe the cores.
COMPUTE = threading.Lock()


@dataclass
class _Batch:
    requests: list[Any] = field(default_factory=list)
    futures: list[Future] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)


class MicroBatcher(Generic[Req, Res]):
    """Groups concurrent :meth:`submit` calls with the same group key into one call of ``run``.

    Args:
        run: takes a list of requests (all with the same group key) and returns one result per request.
    """

    def __init__(self, run: Callable[[Sequence[Req]], Sequence[Res]]) -> None:
        self.run = run
        self._open: dict[Hashable, _Batch] = {}
        self._lock = threading.Lock()
        self._gates: dict[Hashable, threading.Lock] = {}  # one running batch per group
        self.calls = self.requests = 0  # batch calls made, requests served (their ratio is the mean batch size)

    def submit(self, group: Hashable, request: Req) -> Res:
        """Run ``request`` with whatever else arrives for ``group`` within the wait; return its result."""
        size, wait = batch_max(), batch_wait_s()
        future: Future = Future()
        with self._lock:
            batch = self._open.get(group)
            leader = batch is None
            if leader:
                batch = self._open[group] = _Batch()
            gate = self._gates.setdefault(group, threading.Lock())
            batch.requests.append(request)
            batch.futures.append(future)
            if len(batch.requests) >= size:
                self._open.pop(group, None)  # closed: later callers start a new batch
                batch.full.set()
        if leader:
            if size > 1:
                batch.full.wait(wait)
            with gate:  # while the previous batch of this group runs, this one keeps filling
                with self._lock:
                    if self._open.get(group) is batch:
                        del self._open[group]
                self._execute(batch)
        return future.result()

    def _execute(self, batch: _Batch) -> None:
        self.calls += 1
        self.requests += len(batch.requests)
        try:
            with COMPUTE:
                results = self.run(batch.requests)
            if len(results) != len(batch.requests):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(batch.requests)}")
        except BaseException as exc:
            for future in batch.futures:
                future.set_exception(exc)
            return
        for future, result in zip(batch.futures, results, strict=True):
            future.set_result(result)


def configure_threads(cores: int | None = None) -> int:
    """Give torch one intra-op thread per core of this process's CPU set and return that number.

    Streamlit runs sessions in threads; each torch call would otherwise start its own pool of
    ``os.cpu_count()`` threads and concurrent calls would oversubscribe the cores. Batching
    makes the calls few and large, so one pool sized to the cores is the fastest setting.
    ``CONVLENS_TORCH_THREADS`` overrides.
    """
    wanted = os.environ.get("CONVLENS_TORCH_THREADS")
    if wanted:
        cores = int(wanted)
    elif cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if torch.get_num_threads() != cores:
        torch.set_num_threads(max(1, cores))
    return torch.get_num_threads()
