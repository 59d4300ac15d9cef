"""Attribution methods as objects: bound to a model and a layer, hooks gone after success and after errors."""

import numpy as np
import pytest
import torch
from torch import nn
from torchvision.models import resnet18

from core.explain import METHODS, Cost, GradCAM, Occlusion, Options, Saliency

SIZE = 64


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    return resnet18(weights=None, num_classes=10).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


def forward_hooks(module: nn.Module) -> int:
    return sum(len(sub._forward_hooks) for sub in module.modules())


def test_grad_cam_hooks_live_only_inside_the_with_block(net: nn.Module, x: torch.Tensor) -> None:
    before = forward_hooks(net)
    with GradCAM(net, "layer4") as cam:
        assert forward_hooks(net) == before + 1
        maps = cam.attribute(x, target=3)
        again = cam.attribute(x, target=[3, 5])
    assert forward_hooks(net) == before
    assert maps.shape == (1, SIZE, SIZE) and again.shape == (2, SIZE, SIZE)
    np.testing.assert_allclose(again[0], maps[0], atol=1e-6)
    assert cam.cost((SIZE, SIZE)) == Cost(1, 1, 1)


def test_hooks_are_removed_after_an_exception(net: nn.Module, x: torch.Tensor) -> None:
    before = forward_hooks(net)
    error = pytest.raises(ValueError, match="target 10 is out of range: the model has 10 classes")
    with error, GradCAM(net, "layer3") as cam:
        cam.attribute(x, target=10)
    assert forward_hooks(net) == before
    with pytest.raises(RuntimeError, match="boom"), GradCAM(net, "layer3"):
        assert forward_hooks(net) == before + 1
        raise RuntimeError("boom")
    assert forward_hooks(net) == before and not net.training


def test_a_one_off_call_adds_and_removes_its_hooks(net: nn.Module, x: torch.Tensor) -> None:
    before = forward_hooks(net)
    assert GradCAM(net, "layer2").attribute(x, target=1).shape == (1, SIZE, SIZE)
    assert forward_hooks(net) == before


@pytest.mark.parametrize("kind", [GradCAM, Saliency, Occlusion])
def test_an_unknown_layer_is_an_error_that_names_it(net: nn.Module, kind: type) -> None:
    with pytest.raises(ValueError, match=r"layer 'layer5' is not in ResNet\. Did you mean layer"):
        kind(net, "layer5")


def test_the_captum_objects_cost_what_the_page_table_says(net: nn.Module) -> None:
    options = Options(window=16, stride=16, batch_size=4)
    bound = Occlusion(net, "layer4", options=options)
    assert bound.cost((SIZE, SIZE)) == METHODS["occlusion"].cost(options, (SIZE, SIZE)) == Cost(17, 0, 5)
    assert METHODS["grad_cam"].bind(net, "layer4", options).cost((SIZE, SIZE)) == Cost(1, 1, 1)


def test_captum_methods_take_one_image(net: nn.Module, x: torch.Tensor) -> None:
    with pytest.raises(ValueError, match=r"inputs must have shape \(1, C, H, W\), got \(2, 3, 64, 64\)"):
        Saliency(net, "layer4").attribute(x.expand(2, -1, -1, -1), target=0)
