import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from core.util.hooks import capture_outputs, conv_layers, hook_count, preserved_state, resolve_layer


def test_capture_records_outputs_and_removes_hooks() -> None:
    model = resnet18(weights=None).eval()
    with capture_outputs(model, ["layer1.0.conv1", model.layer4]) as outputs, torch.no_grad():
        model(torch.zeros(1, 3, 64, 64))
    assert outputs["layer1.0.conv1"].shape == (1, 64, 16, 16)
    assert outputs["layer4"].shape == (1, 512, 2, 2)
    assert hook_count(model) == 0


def test_hooks_are_removed_after_an_exception() -> None:
    model = resnet18(weights=None).eval()
    with pytest.raises(RuntimeError), capture_outputs(model, ["conv1", "layer2"]):
        model(torch.zeros(1, 5, 32, 32))  # wrong number of channels
    assert hook_count(model) == 0


def test_unknown_layer_is_named_with_suggestions() -> None:
    model = resnet18(weights=None)
    with pytest.raises(ValueError, match=r"'layer4.1.conv3' is not in ResNet\. Did you mean layer4\.1\.conv"):
        resolve_layer(model, "layer4.1.conv3")
    with pytest.raises(ValueError, match="not a submodule"):
        resolve_layer(model, nn.Conv2d(1, 1, 1))
    assert resolve_layer(model, model.fc) == ("fc", model.fc)


def test_conv_layers_in_forward_order() -> None:
    names = [name for name, _ in conv_layers(resnet18(weights=None))]
    assert names[0] == "conv1" and names[-1] == "layer4.1.conv2" and len(names) == 20


def test_preserved_state_restores_flags_and_grads() -> None:
    model = resnet18(weights=None).eval()
    model.fc.weight.requires_grad_(False)
    grad = torch.ones_like(model.conv1.weight)
    model.conv1.weight.grad = grad
    with preserved_state(model):
        model.train().requires_grad_(True)
        model.conv1.weight.grad = None
    assert not model.training and not model.layer1[0].bn1.training
    assert not model.fc.weight.requires_grad and model.conv1.weight.requires_grad
    assert model.conv1.weight.grad is grad
