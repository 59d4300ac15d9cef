"""Card counts: as PyTorch's FLOP counter counts, kept on disk, counted again when the key changes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from core.models import counts, registry
from core.models.registry import model_card
from tests.tiny_models import TinyNet, tiny_net


def _no_build() -> TinyNet:
    raise AssertionError("counted again although the cache holds this key")


def _flop_counter(model: torch.nn.Module, size: int) -> int:
    """The oracle: PyTorch's own FlopCounterMode (2 FLOPs per multiply-add)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return counter.get_total_flops() // 2


def test_the_count_is_by_hand_and_pytorchs_flop_counter() -> None:
    real = counts.multiply_adds(tiny_net().eval(), 16)
    # by hand: two 3x3 convs at 16x16 (3->8, 8->8) and the 8->10 linear layer
    assert real == 16 * 16 * 8 * 3 * 9 + 16 * 16 * 8 * 8 * 9 + 8 * 10 == _flop_counter(tiny_net().eval(), 16)
    assert counts.count(TinyNet, 16) == (sum(p.numel() for p in tiny_net().parameters()), real)


@pytest.mark.parametrize("key", ["efficientnet_lite0", "tiny_vgg"])
def test_the_bundled_models_count_as_pytorchs_flop_counter_does(key: str) -> None:
    entry = registry.entry(key)
    size = model_card(key).crop_size
    model = entry.build().eval()
    assert counts.count(entry.build, size)[1] == _flop_counter(model, size) > 0


def test_counts_are_read_from_disk_until_the_weights_file_changes(tmp_path: Path) -> None:
    weights = tmp_path / "tiny.pt"
    weights.write_bytes(b"first")
    first = counts.cached_count("tiny", TinyNet, weights, 16)
    assert counts.cache_path().is_file()
    assert counts.cached_count("tiny", _no_build, weights, 16) == first  # no counting: read from disk
    weights.write_bytes(b"other weights")  # new size and time: count again
    with pytest.raises(AssertionError, match="counted again"):
        counts.cached_count("tiny", _no_build, weights, 16)
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same bytes, rewritten later
    assert counts.cache_key("tiny", weights, 16) != counts.cache_key("tiny", weights.with_name("x"), 16)
    assert counts.cached_count("tiny", TinyNet, weights, 16) == first


def test_the_key_names_model_size_weights_and_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    counts.cached_count("tiny", TinyNet, None, 16)
    keys = {counts.cache_key("tiny", None, 16), counts.cache_key("other", None, 16), counts.cache_key("tiny", None, 32)}
    assert len(keys) == 3
    with pytest.raises(AssertionError, match="counted again"):
        counts.cached_count("tiny", _no_build, None, 32)  # another input size
    monkeypatch.setattr(counts.torch, "__version__", "9.9.9")
    with pytest.raises(AssertionError, match="counted again"):
        counts.cached_count("tiny", _no_build, None, 16)  # another PyTorch


def test_a_damaged_cache_means_counting_again() -> None:
    path = counts.cache_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    want = counts.count(TinyNet, 16)
    assert counts.cached_count("tiny", TinyNet, None, 16) == want
    assert list(json.loads(path.read_text()).values()) == [list(want)]  # rewritten whole
    path.write_text(json.dumps({counts.cache_key("tiny", None, 16): ["a", 1]}))
    assert counts.cached_count("tiny", TinyNet, None, 16) == want  # a wrong value is not trusted


def test_an_unwritable_cache_folder_means_counting_at_every_start(caplog: pytest.LogCaptureFixture) -> None:
    counts.cache_path().parent.parent.mkdir(parents=True, exist_ok=True)
    counts.cache_path().parent.write_text("a file where the cache folder should be")  # even root cannot write there
    assert counts.cached_count("tiny", TinyNet, None, 16) == counts.count(TinyNet, 16)
    assert "cannot keep the card counts" in caplog.text


def test_efficientnet_lite_card_counts_come_from_the_cache_on_the_next_start() -> None:
    model_card.cache_clear()
    try:
        card = model_card("efficientnet_lite0")
        stored = json.loads(counts.cache_path().read_text())
        assert [card.params, round(card.gflops * 1e9)] in stored.values()
        model_card.cache_clear()
        assert model_card("efficientnet_lite0") == card
    finally:
        model_card.cache_clear()
