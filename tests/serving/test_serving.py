"""Shared results and micro-batching: computed once, batched, and identical to one-at-a-time."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from core.explain.gradcam import grad_cams as explain
from core.features.capture import get_activations
from core.io.assets import sample_images
from core.io.images import load_image
from core.models import get_model
from core.models.classification import classify
from core.models.weights import default_key
from core.serving import inference as serving
from core.util.batching import MicroBatcher, configure_threads
from core.util.shared_cache import SharedCache, estimate_bytes


def together(count: int, fn) -> list:
    """Call ``fn(i)`` from ``count`` threads released at the same instant; their results in order."""
    barrier, results, errors = threading.Barrier(count), [None] * count, []

    def worker(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except Exception as exc:  # collected: the test fails on it below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_shared_cache_computes_a_key_once_for_concurrent_callers() -> None:
    cache, calls = SharedCache("test once", 8, 2**20), []

    def compute() -> np.ndarray:
        calls.append(1)
        time.sleep(0.2)  # long enough that every thread asks while it runs
        return np.zeros(10)

    values = together(6, lambda _: cache.get("k", compute))
    assert len(calls) == 1
    assert all(v is values[0] for v in values)
    stats = cache.stats()
    assert (stats["misses"], stats["hits"] + stats["waits"]) == (1, 5)
    cache.get("k", compute)
    assert cache.stats()["hits"] + cache.stats()["waits"] == 6


def test_shared_cache_passes_errors_to_every_waiter_and_does_not_keep_them() -> None:
    cache = SharedCache("test errors", 8, 2**20)

    def fail() -> None:
        time.sleep(0.1)
        raise ValueError("bad image")

    def call(_: int) -> str:
        try:
            cache.get("k", fail)
        except ValueError as exc:
            return str(exc)
        return "no error"

    assert together(4, call) == ["bad image"] * 4
    assert cache.get("k", lambda: 7) == 7  # the error was not cached


def test_shared_cache_is_bounded_by_bytes_least_recently_used_first() -> None:
    cache = SharedCache("test bytes", 100, 3000)
    for key in "abc":
        cache.get(key, lambda: np.zeros(1000, dtype=np.uint8))
    cache.get("a", lambda: None)  # a is now the most recently used
    cache.get("d", lambda: np.zeros(1000, dtype=np.uint8))
    assert cache.nbytes <= 3000
    assert cache.get("b", lambda: "recomputed") == "recomputed"  # b was the oldest
    assert isinstance(cache.get("a", lambda: None), np.ndarray)


def test_estimate_bytes_counts_arrays_inside_dataclasses() -> None:
    acts = get_activations(get_model(default_key()), load_image(sample_images()["cat"]))
    assert estimate_bytes(acts) >= acts.nbytes


def test_micro_batcher_runs_concurrent_requests_as_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVLENS_BATCH_WAIT_MS", "300")
    monkeypatch.setenv("CONVLENS_BATCH_MAX", "4")
    sizes = []

    def run(requests):
        sizes.append(len(requests))
        return [r * 10 for r in requests]

    batcher = MicroBatcher(run)
    assert together(8, lambda i: batcher.submit("model", i)) == [i * 10 for i in range(8)]
    assert sum(sizes) == 8 and max(sizes) == 4 and len(sizes) < 8


def test_requests_arriving_while_a_batch_runs_form_the_next_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVLENS_BATCH_WAIT_MS", "0")
    monkeypatch.setenv("CONVLENS_BATCH_MAX", "8")
    sizes, started = [], threading.Event()

    def run(requests):
        sizes.append(len(requests))
        started.set()
        time.sleep(0.5 if len(sizes) == 1 else 0)
        return list(requests)

    batcher = MicroBatcher(run)
    first = threading.Thread(target=batcher.submit, args=("m", 0))
    first.start()
    started.wait()
    assert together(5, lambda i: batcher.submit("m", i + 1)) == [1, 2, 3, 4, 5]
    first.join()
    assert sizes == [1, 5]


def test_micro_batcher_with_batch_one_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVLENS_BATCH_MAX", "1")
    monkeypatch.setenv("CONVLENS_BATCH_WAIT_MS", "5000")
    batcher = MicroBatcher(lambda requests: list(requests))
    start = time.perf_counter()
    assert batcher.submit("m", 3) == 3
    assert time.perf_counter() - start < 2  # the 5 s wait applies only when a batch can grow


def _fresh_serving_caches() -> None:
    serving.CLASSIFICATIONS.clear()
    serving.GRADCAMS.clear()


def test_batched_classification_equals_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVLENS_BATCH_WAIT_MS", "200")
    _fresh_serving_caches()
    model = get_model(default_key())
    images = [load_image(path) for path in sample_images().values()]
    calls_before = serving._CLASSIFY.calls
    batched = together(len(images), lambda i: serving.classify(model, images[i], k=5))
    assert serving._CLASSIFY.calls - calls_before < len(images)  # at least two shared one forward
    for image, got in zip(images, batched, strict=True):
        alone = classify(model, image, k=5)
        assert [p.index for p in got.top] == [p.index for p in alone.top]
        np.testing.assert_allclose([p.probability for p in got.top], [p.probability for p in alone.top], atol=1e-5)
        assert got.input_shape == alone.input_shape


def test_batched_grad_cam_equals_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVLENS_BATCH_WAIT_MS", "200")
    _fresh_serving_caches()
    model = get_model(default_key())
    images = [load_image(path) for path in list(sample_images().values())[:4]]
    targets = [(0,), (1, 2), (3,), (0, 4)]
    calls_before = serving._EXPLAIN.calls
    batched = together(4, lambda i: serving.explain(model, images[i], targets[i]))
    assert serving._EXPLAIN.calls - calls_before < 4
    for image, mine, got in zip(images, targets, batched, strict=True):
        alone = explain(model, image, mine)
        assert got.targets == alone.targets and got.labels == alone.labels
        np.testing.assert_allclose(got.probabilities, alone.probabilities, atol=1e-5)
        for a, b in zip(got.layers, alone.layers, strict=True):
            np.testing.assert_allclose(a.maps, b.maps, atol=1e-4)


def test_same_request_from_many_sessions_is_one_pass() -> None:
    _fresh_serving_caches()
    model = get_model(default_key())
    image = load_image(sample_images()["coffee"])
    before = serving.GRADCAMS.stats()
    results = together(6, lambda _: serving.explain(model, image, [1]))
    after = serving.GRADCAMS.stats()
    assert after["misses"] - before["misses"] == 1
    assert all(r is results[0] for r in results)


def test_a_bad_target_fails_alone_and_names_the_argument() -> None:
    model = get_model(default_key())
    with pytest.raises(ValueError, match="target"):
        serving.explain(model, load_image(sample_images()["cat"]), [10_000])


def test_torch_threads_match_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    try:
        assert configure_threads(1) == 1
        monkeypatch.setenv("CONVLENS_TORCH_THREADS", "2")
        assert configure_threads() == 2
    finally:
        torch.set_num_threads(before)
