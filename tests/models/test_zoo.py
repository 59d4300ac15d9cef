import pytest
import torch

from core.config.device import pick_device
from core.models import registry as zoo
from core.models.classify import classify
from core.models.layer_table import layer_table
from core.models.loading import get_model
from tests.bad_images import photo

REQUIRED = [
    "resnet18",
    "resnet50",
    "vgg16",
    "densenet121",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
]


def test_zoo_has_the_required_models_with_metadata() -> None:
    for key in REQUIRED:
        card = zoo.model_card(key)
        assert card.params > 1_000_000 and card.gflops > 0 and 50 < card.top1 < card.top5 < 100
        assert len(card.categories) == 1000 and card.weights_file.endswith(".pth")
        assert card.crop_size == 224


def test_unknown_model_names_the_choices() -> None:
    with pytest.raises(ValueError, match="resnet18"):
        zoo.model_card("resnet19")


@pytest.mark.parametrize("key", zoo.list_models())
def test_layer_tables_add_up(key: str) -> None:
    rows = layer_table(key)
    assert rows[-1].output_shape == (len(zoo.model_card(key).categories),)
    assert any(r.type == "Conv2d" for r in rows)
    if key != "convnext_tiny":  # ConvNeXt keeps its layer-scale parameters on the block, not a leaf
        assert sum(r.params for r in rows) == zoo.model_card(key).params


def test_resnet18_layer_shapes_by_hand() -> None:
    rows = {r.name: r for r in layer_table("resnet18")}
    assert rows["conv1"].output_shape == (64, 112, 112)  # (224 - 7 + 2*3) / 2 + 1
    assert rows["maxpool"].output_shape == (64, 56, 56)
    assert rows["layer4.1.conv2"].output_shape == (512, 7, 7)
    assert rows["conv1"].params == 7 * 7 * 3 * 64


def test_classify_untrained_model() -> None:
    model = get_model("mobilenet_v3_small", pretrained=False)
    result = classify(model, photo((80, 60)), k=3)
    assert not result.trained and "untrained" in result.model
    assert len(result.top) == 3 and result.forward_ms > 0
    probabilities = [p.probability for p in result.top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert result.input_shape == (1, 3, 224, 224)


def test_random_weights_are_seeded() -> None:
    from core.models.loading import MODELS

    first = get_model("resnet18", pretrained=False).module.conv1.weight.clone()
    MODELS.clear()
    assert torch.equal(first, get_model("resnet18", pretrained=False).module.conv1.weight)


def test_device_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="CONVLENS_DEVICE"):
        pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no usable CUDA"):
            pick_device("cuda")
    monkeypatch.setenv("CONVLENS_DEVICE", "cpu")
    assert pick_device().type == "cpu"
