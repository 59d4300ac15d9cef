"""Weights resolution and safe loading, with checkpoints made here (no network)."""

import pickle
from pathlib import Path

import pytest
import torch

from core.errors import WeightsError, WeightsUnavailable
from core.models import registry as zoo
from core.models import weights
from core.models.loading import MODELS, from_state_dict, get_model


@pytest.fixture(autouse=True)
def fresh_cache():
    MODELS.clear()
    yield
    MODELS.clear()


def saved_random_weights(key: str, folder: Path, seed: int = 1) -> Path:
    torch.manual_seed(seed)
    model = zoo.entry(key).build()
    path = folder / zoo.model_card(key).weights_file
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def test_official_file_name_in_torch_hub_cache_is_loaded_offline() -> None:
    path = saved_random_weights("resnet18", weights.hub_checkpoints_dir())
    model = get_model("resnet18", pretrained=True)
    assert model.trained and "torch hub cache" in model.source
    assert torch.equal(model.module.conv1.weight, torch.load(path, weights_only=True)["conv1.weight"])


def test_weights_folder_is_searched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(tmp_path / "kit"))
    saved_random_weights("mobilenet_v3_small", tmp_path / "kit")
    location = weights.locate(zoo.model_card("mobilenet_v3_small"))
    assert location.where == "weights folder"
    assert get_model("mobilenet_v3_small").trained


def test_legacy_densenet_keys_are_mapped() -> None:
    model = zoo.entry("densenet121").build()
    legacy = {k.replace("norm1.", "norm.1.").replace("conv2.", "conv.2."): v for k, v in model.state_dict().items()}
    assert any("norm.1." in k for k in legacy)
    weights.apply_state_dict(zoo.entry("densenet121").build(), legacy, "DenseNet-121")


def test_missing_weights_offline_name_the_file_and_folder() -> None:
    card = zoo.model_card("resnet18")
    with pytest.raises(WeightsUnavailable) as info:
        get_model("resnet18", pretrained=True)
    message = str(info.value)
    assert card.weights_file in message and str(weights.hub_checkpoints_dir()) in message
    assert "untrained" in message
    with pytest.raises(WeightsUnavailable, match="CONVLENS_OFFLINE"):
        get_model("resnet18", pretrained=True, download=True)


class RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickle_that_runs_code_is_refused_unread(tmp_path: Path) -> None:
    evil = RunsCode()
    evil.marker = str(tmp_path / "pwned")
    payload = tmp_path / "evil.pth"
    payload.write_bytes(pickle.dumps({"conv1.weight": evil}))
    with pytest.raises(WeightsError, match="run code"):
        weights.read_state_dict(payload)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("data", [b"", b"\x00\x01random bytes" * 50, b"PK\x03\x04 not really a zip"])
def test_random_bytes_are_not_weights(data: bytes) -> None:
    with pytest.raises(WeightsError, match="Cannot use"):
        weights.read_state_dict(data)


def test_wrong_architecture_names_the_keys(tmp_path: Path) -> None:
    path = saved_random_weights("mobilenet_v3_small", tmp_path)
    with pytest.raises(WeightsError, match=r"missing keys: bn1\.bias") as info:
        from_state_dict("resnet18", path)
    assert "unexpected keys" in str(info.value)


def test_checkpoint_dicts_and_data_parallel_prefixes(tmp_path: Path) -> None:
    model = zoo.entry("resnet18").build()
    wrapped = {"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "epoch": 3}
    path = tmp_path / "ckpt.pt"
    torch.save(wrapped, path)
    loaded = from_state_dict("resnet18", path.read_bytes())
    assert torch.equal(loaded.module.fc.weight, model.fc.weight)


def test_hash_prefix_is_read_from_torchvision_names() -> None:
    assert weights.expected_hash_prefix("resnet18-f37072fd.pth") == "f37072fd"
    assert weights.expected_hash_prefix("efficientnet_b0_rwightman-7f5810bc.pth") == "7f5810bc"
