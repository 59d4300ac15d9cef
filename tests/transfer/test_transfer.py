"""Heads, strategies and the training loop, on a tiny CNN and generated images."""

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from core.models import registry as zoo
from core.models import weights
from core.models.classroom import TinyVGG
from core.transfer.loop import Cancelled, Observer, evaluate, train_strategy
from core.transfer.store import RunConfig, RunWriter, read_run
from core.transfer.strategies import (
    FEATURE_EXTRACTION,
    FINE_TUNING,
    SCRATCH,
    TrainSettings,
    blocks,
    head_name,
    parameter_groups,
    replace_head,
)
from core.transfer.worker import run_job
from tests.conftest import shared_path
from tests.tiny_models import PREPROCESS, coloured_split, tiny_net

CPU = torch.device("cpu")
SETTINGS = TrainSettings(epochs=3, batch_size=8, image_size=16, lr=0.5, seed=1)
HEADS = {
    "alexnet": "classifier.6",
    "vgg16": "classifier.6",
    "resnet18": "fc",
    "resnet50": "fc",
    "densenet121": "classifier",
    "mobilenet_v2": "classifier.1",
    "mobilenet_v3_small": "classifier.3",
    "mobilenet_v3_large": "classifier.3",
    "efficientnet_b0": "classifier.1",
    "regnet_y_400mf": "fc",
    "convnext_tiny": "classifier.2",
    "efficientnet_lite0": "classifier.1",
}
# Where the PyTorch tutorial's numbers need real ImageNet weights: the places a user keeps them.
_WEIGHT_DIRS = [
    Path(p).expanduser()
    for p in (
        os.environ.get("CONVLENS_WEIGHTS_DIR", "~/.cache/convlens/weights"),
        os.path.join(os.environ.get("TORCH_HOME", "~/.cache/torch"), "hub", "checkpoints"),
    )
]


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict[str, torch.Tensor], module: nn.Module) -> set[str]:
    return {k for k, v in module.state_dict().items() if not torch.equal(before[k], v)}


def train(strategy, settings=SETTINGS, observer=None, module=None):
    module = module or tiny_net()
    result = train_strategy(
        strategy, module, coloured_split(24), coloured_split(10, seed=1), PREPROCESS, settings, 2, CPU, observer
    )
    return module, result


@pytest.mark.parametrize("key", list(HEADS))
def test_the_head_is_the_last_linear_of_every_zoo_model(key: str) -> None:
    module = zoo.meta_model(key)
    in_features = module.get_submodule(HEADS[key]).in_features
    assert replace_head(module, 3) == HEADS[key]
    head = module.get_submodule(HEADS[key])
    assert (head.in_features, head.out_features) == (in_features, 3)
    assert head_name(module) == HEADS[key]


def test_the_classroom_tiny_vgg_head_is_replaced_and_still_runs() -> None:
    module = TinyVGG(num_classes=4)
    assert replace_head(module, 2) == "classifier"
    assert module(torch.zeros(2, 3, 32, 32)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"no nn\.Linear"):
        head_name(nn.Sequential(nn.Conv2d(3, 4, 3)))


def test_blocks_are_in_forward_order() -> None:
    module = zoo.meta_model("resnet18")
    expected = ["conv1", "bn1"] + [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert blocks(module, "fc") == expected
    assert blocks(zoo.meta_model("vgg16"), "classifier.6")[-2:] == ["classifier.0", "classifier.3"]


def test_feature_extraction_moves_only_the_head_and_runs_the_backbone_once() -> None:
    module = tiny_net()
    replace_head(module, 2)
    before = snapshot(module)
    calls = []
    module.stem.register_forward_hook(lambda _m, inputs, _o: calls.append(len(inputs[0])))
    module, result = train(FEATURE_EXTRACTION, module=module)
    assert changed(before, module) == {"fc.weight", "fc.bias"}  # BN statistics included: bitwise equal
    assert sum(calls) == 24 + 10  # every image once, whatever the number of epochs
    assert result.trainable_params == 8 * 2 + 2
    assert result.best.accuracy > 0.5


def test_feature_extraction_with_augmentation_runs_the_backbone_every_epoch() -> None:
    module = tiny_net()
    calls = []
    module.stem.register_forward_hook(lambda _m, inputs, _o: calls.append(len(inputs[0])))
    settings = TrainSettings(epochs=2, batch_size=8, image_size=16, augment=True)
    module, _ = train(FEATURE_EXTRACTION, settings, module=module)
    assert sum(calls) == 10 + 2 * 24


def test_fine_tuning_moves_the_backbone_with_a_smaller_learning_rate() -> None:
    module = tiny_net()
    replace_head(module, 2)
    before = snapshot(module)
    module, result = train(FINE_TUNING, module=module)
    assert {"stem.0.weight", "block.0.weight", "stem.1.running_mean", "fc.weight"} <= changed(before, module)
    groups, _ = parameter_groups(FINE_TUNING, module, "fc", SETTINGS)
    assert [g["lr"] for g in groups] == [pytest.approx(0.05), 0.5]
    assert result.trainable_params == sum(p.numel() for p in module.parameters())


def test_fine_tuning_the_last_blocks_leaves_the_others_bitwise_unchanged() -> None:
    module = tiny_net()
    replace_head(module, 2)
    before = snapshot(module)
    settings = TrainSettings(epochs=2, batch_size=8, image_size=16, unfreeze_blocks=2)
    module, _ = train(FINE_TUNING, settings, module=module)
    moved = changed(before, module)
    assert not {k for k in moved if k.startswith("stem.")}
    assert {"block.0.weight", "block.1.weight", "block.1.running_mean", "fc.weight"} <= moved


def test_scratch_trains_everything_at_the_head_rate() -> None:
    module = tiny_net()
    replace_head(module, 2)
    groups, frozen = parameter_groups(SCRATCH, module, "fc", SETTINGS)
    assert len(groups) == 1 and groups[0]["lr"] == 0.5 and not frozen
    assert all(p.requires_grad for p in module.parameters())


@pytest.mark.parametrize("strategy", [FEATURE_EXTRACTION, FINE_TUNING])
def test_same_seed_gives_the_same_metrics(strategy) -> None:
    _, first = train(strategy)
    _, again = train(strategy)
    assert first.history and [m.val_loss for m in first.history] == [m.val_loss for m in again.history]
    assert [m.train_loss for m in first.history] == [m.train_loss for m in again.history]
    _, other = train(strategy, TrainSettings(epochs=3, batch_size=8, image_size=16, lr=0.5, seed=2))
    assert [m.train_loss for m in other.history] != [m.train_loss for m in first.history]


class StopAfter(Observer):
    def __init__(self, batches: int) -> None:
        self.batches, self.checks, self.trained = batches, 0, 0

    def check(self) -> None:
        self.checks += 1
        if self.trained >= self.batches:
            raise Cancelled("stop")

    def progress(self, phase: str, done: int, total: int) -> None:
        self.trained += phase.startswith("epoch")


def test_cancel_stops_before_the_next_batch() -> None:
    observer = StopAfter(batches=4)
    steps = []
    module = tiny_net()
    module.register_forward_hook(lambda m, _i, _o: steps.append(m.training))
    with pytest.raises(Cancelled):
        train(FINE_TUNING, observer=observer, module=module)
    assert observer.trained == 4 and steps.count(True) == 4  # 3 in epoch 1, then the first of epoch 2


def test_evaluate_matches_a_manual_count() -> None:
    module = tiny_net().eval()
    replace_head(module, 2)
    split = coloured_split(9)
    result = evaluate(module, split.images, split.labels, PREPROCESS.batch, 4)
    with torch.no_grad():
        logits = module(PREPROCESS.batch(split.images))
    assert result.predictions == tuple(logits.argmax(1).tolist())
    assert result.accuracy == pytest.approx((logits.argmax(1) == split.labels).float().mean().item())
    assert result.loss == pytest.approx(nn.functional.cross_entropy(logits, split.labels).item(), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1"),
        ({"epochs": 51}, "at most 50"),
        ({"batch_size": 1}, "batch_size must be at least 2"),
        ({"lr": 0}, "lr must be in"),
        ({"unfreeze_blocks": 0}, "unfreeze_blocks"),
    ],
)
def test_settings_name_the_wrong_argument(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainSettings(**kwargs)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("strategy", "settings", "tutorial"),
    [
        (FEATURE_EXTRACTION, TrainSettings(epochs=25, batch_size=16, image_size=224, lr=0.01), 0.948),
        (FINE_TUNING, TrainSettings(epochs=10, batch_size=16, image_size=224, lr=0.01, augment=True), 0.935),
    ],
)
def test_pretrained_resnet18_on_hymenoptera_matches_the_pytorch_tutorial(
    monkeypatch: pytest.MonkeyPatch, strategy, settings: TrainSettings, tutorial: float
) -> None:
    data = shared_path("data", "hymenoptera_data")
    card = zoo.model_card("resnet18")
    for folder in _WEIGHT_DIRS:
        if (folder / card.weights_file).is_file():
            monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(folder))
    if not weights.locate(card).available:
        looked = ", ".join(map(str, _WEIGHT_DIRS))
        pytest.skip(
            f"ImageNet weights {card.weights_file} are not on this machine (looked in {looked}); "
            f"the tutorial's {tutorial} for {strategy.label.lower()} needs them. The same lesson runs on "
            "EfficientNet-Lite0, whose weights install with ConvLens: "
            "test_pretrained_efficientnet_lite0_on_hymenoptera_beats_the_same_network_from_scratch"
        )
    writer = RunWriter.create(RunConfig(str(data), "resnet18", True, (strategy.key,), settings))
    run_job(writer.path)
    record = read_run(writer.path)
    assert record.status.state == "done", record.status.message
    assert record.strategies[strategy.key].best.accuracy >= tutorial


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a busy shared CPU can be several times slower
def test_pretrained_efficientnet_lite0_on_hymenoptera_beats_the_same_network_from_scratch() -> None:
    """The tutorial's lesson on a real ImageNet network that every install has (no download, never skipped
    where ../shared is): a frozen backbone reaches tutorial-level accuracy, fine-tuning its last blocks
    keeps it, and the same architecture from random weights, trained alike, stays far below."""
    data = shared_path("data", "hymenoptera_data")
    settings = TrainSettings(epochs=2, batch_size=16, image_size=224, lr=0.01, unfreeze_blocks=3)
    strategies = (FEATURE_EXTRACTION.key, FINE_TUNING.key, SCRATCH.key)
    writer = RunWriter.create(RunConfig(str(data), "efficientnet_lite0", True, strategies, settings))
    run_job(writer.path)
    record = read_run(writer.path)
    assert record.status.state == "done", record.status.message
    frozen, tuned, scratch = (record.strategies[key].best.accuracy for key in strategies)
    assert frozen >= 0.93, record.status.message
    assert tuned >= frozen - 0.02, record.status.message
    assert scratch <= min(frozen, tuned) - 0.15, record.status.message
