"""Output sizes, parameter counts and receptive fields: by hand, against real layers, against gradients."""

import re

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torchvision.models import resnet18

from core.features.conv_arithmetic import (
    ConvSettings,
    conv_params,
    model_receptive_fields,
    output_size,
    receptive_fields,
    solve,
    worked_example,
)
from core.models.registry import list_models, meta_model
from core.util.hooks import capture_outputs, conv_layers


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation", "expected"),
    [
        (224, 11, 4, 2, 1, 55),  # AlexNet conv1
        (227, 11, 4, 0, 1, 55),  # AlexNet as published
        (32, 3, 1, 1, 1, 32),  # 'same' padding
        (7, 3, 2, 1, 1, 4),
        (5, 3, 2, 0, 1, 2),
        (7, 3, 1, 0, 2, 3),  # a dilated 3x3 spans 5 pixels
        (3, 3, 1, 0, 1, 1),
    ],
)
def test_output_size_by_hand(size: int, kernel: int, stride: int, padding: int, dilation: int, expected: int) -> None:
    assert output_size(size, kernel, stride, padding, dilation) == expected


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(1, 40),
    kernel=st.integers(1, 11),
    stride=st.integers(1, 5),
    padding=st.integers(0, 5),
    dilation=st.integers(1, 3),
)
def test_output_size_agrees_with_conv2d(size: int, kernel: int, stride: int, padding: int, dilation: int) -> None:
    conv = nn.Conv2d(1, 1, kernel, stride, padding, dilation, device="meta")
    try:
        expected = conv(torch.empty(1, 1, size, size, device="meta")).shape[-1]
    except RuntimeError:
        with pytest.raises(ValueError, match=r"kernel .* does not fit"):
            output_size(size, kernel, stride, padding, dilation)
    else:
        assert output_size(size, kernel, stride, padding, dilation) == expected


def test_output_size_rejects_nonsense_with_the_argument_named() -> None:
    with pytest.raises(ValueError, match="stride must be at least 1"):
        output_size(32, 3, 0)
    with pytest.raises(ValueError, match="padding must be 0 or more"):
        output_size(32, 3, 1, -1)


@pytest.mark.parametrize(
    ("kernel", "c_in", "c_out", "groups", "bias", "expected"),
    [
        (3, 3, 64, 1, True, 1_792),  # VGG conv1_1: (3*3*3 + 1) * 64
        (11, 3, 64, 1, True, 23_296),  # AlexNet conv1
        (7, 3, 64, 1, False, 9_408),  # ResNet conv1 has no bias
        (3, 32, 32, 32, True, 320),  # depthwise: one 3x3 per channel
        (1, 256, 64, 1, False, 16_384),
    ],
)
def test_params_by_hand_and_against_conv2d(
    kernel: int, c_in: int, c_out: int, groups: int, bias: bool, expected: int
) -> None:
    assert conv_params(kernel, c_in, c_out, bias=bias, groups=groups) == expected
    real = nn.Conv2d(c_in, c_out, kernel, groups=groups, bias=bias, device="meta")
    assert sum(p.numel() for p in real.parameters()) == expected


def test_solve_alexnet_conv1_then_max_pool() -> None:
    result = solve(ConvSettings(224, 3, 11, 4, 2, 64, pool="max", pool_kernel=3, pool_stride=2))
    assert (result.output, result.pooled, result.params) == (55, 27, 23_296)
    assert result.shape == (64, 27, 27) and result.torch_shape == (1, 64, 27, 27)
    assert result.agrees and not result.problems and result.torch_error is None
    assert "224 - 11 + 2 \\cdot 2" in result.output_latex and "23{,}296" in result.params_latex


def test_kernel_larger_than_padded_input_is_explained_not_raised() -> None:
    result = solve(ConvSettings(3, 3, 7, 1, 1, 8))
    assert result.output is None and result.shape is None
    assert "does not fit" in result.problems[0] and "W + 2P must be at least F" in result.problems[0]
    assert result.torch_error is not None and result.torch_shape is None
    assert result.agrees  # torch refuses too


def test_stride_that_does_not_fit_gets_a_note_and_torch_rounds_down() -> None:
    result = solve(ConvSettings(7, 1, 3, 3, 0, 1))  # (7 - 3) / 3 = 1.33
    assert result.output == 2 and result.torch_shape == (1, 1, 2, 2) and result.agrees
    assert any("not a whole number" in note for note in result.notes)
    assert "1.33333" in result.output_latex


def test_pooling_that_does_not_fit_is_explained() -> None:
    result = solve(ConvSettings(3, 1, 3, 1, 0, 4, pool="average"))
    assert result.output == 1 and result.pooled is None
    assert "pooling window does not fit" in result.problems[0] and result.torch_error is not None


def test_worked_example_by_loops_and_by_its_written_sum() -> None:
    example = worked_example(6, 3, 2, 1, seed=3)
    grid = example.padded[1:-1, 1:-1]
    assert grid.shape == (6, 6) and example.padded.sum() == grid.sum()
    assert example.output.shape == (3, 3) and example.matches_torch
    for row in range(3):
        for col in range(3):
            expected = sum(
                int(example.padded[2 * row + i, 2 * col + j]) * int(example.kernel[i, j])
                for i in range(3)
                for j in range(3)
            )
            assert example.output[row, col] == expected
            written, total = example.terms(row, col).split(" = ")
            products = re.findall(r"(-?\d+)·\(?(-?\d+)\)?", written)
            assert len(products) == 9 and sum(int(a) * int(b) for a, b in products) == int(total) == expected


VGG16_FIELDS = [3, 5, 10, 14, 24, 32, 40, 60, 76, 92, 132, 164, 196]
ALEXNET_FIELDS = [11, 51, 99, 131, 163]


@pytest.mark.parametrize(("key", "expected"), [("vgg16", VGG16_FIELDS), ("alexnet", ALEXNET_FIELDS)])
def test_receptive_fields_of_plain_networks_by_hand(key: str, expected: list[int]) -> None:
    fields = model_receptive_fields(key)
    assert [f.size[0] for f in fields.values()] == expected
    assert all(f.size[0] == f.size[1] and not f.is_global for f in fields.values())


def test_receptive_fields_of_resnet18_follow_the_branches() -> None:
    fields = model_receptive_fields("resnet18")
    assert (fields["conv1"].size, fields["conv1"].jump) == ((7, 7), (2, 2))
    assert fields["layer1.0.conv1"].size == (19, 19)  # 7 + (3-1)*2 (max-pool) + (3-1)*4
    # The 1x1 shortcut sees what the block's input sees: the previous block's output (43 px)...
    assert fields["layer2.0.downsample.0"].size == (43, 43) and fields["layer2.0.downsample.0"].jump == (8, 8)
    # ...and the main path grows it by two 3x3 convolutions: 43 + 2*4 + 2*8.
    assert fields["layer2.0.conv2"].size == (67, 67)
    assert fields["layer4.1.conv2"].size == (435, 435) and fields["layer4.1.conv2"].jump == (32, 32)


def test_squeeze_excitation_is_global_but_does_not_widen_the_window() -> None:
    fields = model_receptive_fields("mobilenet_v3_small")
    assert fields["features.1.block.1.fc1"].is_global and fields["features.1.block.1.fc1"].label == "whole image"
    assert not fields["features.1.block.2.0"].is_global
    assert fields["features.1.block.2.0"].size == fields["features.1.block.0.0"].size  # a 1x1 after the gate


def test_every_zoo_model_has_a_field_for_every_convolution() -> None:
    for key in list_models():
        fields = model_receptive_fields(key)
        assert list(fields) == [name for name, _ in conv_layers(meta_model(key))], key
        assert all(f.size[0] >= 1 and f.jump[0] >= 1 for f in fields.values()), key


def _linearised(model: nn.Module) -> nn.Module:
    """Same geometry, every path alive: ReLU/BN become identities, max-pools average-pools, weights positive."""
    for name, module in list(model.named_modules()):
        parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
        attr = name.rpartition(".")[2]
        if isinstance(module, (nn.ReLU, nn.BatchNorm2d)):
            setattr(parent, attr, nn.Identity())
        elif isinstance(module, nn.MaxPool2d):
            setattr(parent, attr, nn.AvgPool2d(module.kernel_size, module.stride, module.padding))
    with torch.no_grad():
        for param in model.parameters():
            param.abs_().add_(0.01)
    return model.eval()


def _gradient_window(model: nn.Module, layer: str, size: int, unit: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixels whose value changes one unit of ``layer``: (top, left, bottom, right), inclusive."""
    image = torch.ones(1, 3, size, size, requires_grad=True)
    with capture_outputs(model, [layer]) as outputs:
        model(image)
    outputs[layer][0, 0, unit[0], unit[1]].backward()
    rows, cols = image.grad[0].abs().sum(0).nonzero(as_tuple=True)
    return int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())


def _clipped(window: tuple[int, int, int, int], size: int) -> tuple[int, int, int, int]:
    top, left, bottom, right = window
    return max(top, 0), max(left, 0), min(bottom, size - 1), min(right, size - 1)


@pytest.mark.parametrize(
    ("layer", "unit"),
    [("conv1", (5, 7)), ("layer1.0.conv2", (3, 4)), ("layer2.0.downsample.0", (2, 3)), ("layer2.1.conv1", (0, 6))],
)
def test_resnet18_fields_match_the_gradient_of_one_unit(layer: str, unit: tuple[int, int]) -> None:
    size = 128
    field = model_receptive_fields("resnet18", size)[layer]
    model = _linearised(resnet18(weights=None))
    assert _gradient_window(model, layer, size, unit) == _clipped(field.window(*unit), size)


class Branches(nn.Module):
    """Two branches of different reach concatenated, then a strided conv (a DenseNet/Inception pattern)."""

    def __init__(self) -> None:
        super().__init__()
        self.narrow = nn.Conv2d(3, 2, 3, padding=1)
        self.wide = nn.Conv2d(3, 2, 3, padding=4, dilation=4)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Conv2d(4, 1, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(torch.cat([self.narrow(x), self.wide(x)], dim=1)))


def test_concatenated_branches_see_their_union() -> None:
    model, size = _linearised(Branches()), 64
    fields = receptive_fields(model, size)
    assert fields["narrow"].size == (3, 3) and fields["wide"].size == (9, 9)
    assert fields["head"].size == (9 + 1 + 2 * 2, 9 + 1 + 2 * 2) and fields["head"].jump == (4, 4)
    for unit in [(3, 3), (0, 0), (7, 2)]:
        assert _gradient_window(model, "head", size, unit) == _clipped(fields["head"].window(*unit), size)
