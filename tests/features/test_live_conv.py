"""The live convolution: every number equals the model's own output, for every kind of layer; no hook left."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torchvision.transforms._presets import ImageClassification

from core.features.capture import model_input
from core.features.live_cell import explain_cell, sweep
from core.features.live_conv import TRACES, get_trace, trace, trace_layer
from core.features.live_pictures import (
    contributions_figure,
    field_on_image,
    map_with_unit,
    patch_figure,
    pool_figure,
    sweep_figure,
)
from core.models import registry as zoo
from core.models.cards import ZooEntry
from core.models.loading import LoadedModel
from tests.bad_images import photo
from tests.hooks import hook_count
from tests.tiny_models import _card

SIDE = 32
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}  # float32 model against a float64 sum


def _randomise_norms(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics and affine weights, so that BN really changes values."""
    generator = torch.Generator().manual_seed(seed)
    for sub in module.modules():
        if isinstance(sub, nn.BatchNorm2d):
            n = sub.num_features
            sub.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
            sub.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            sub.weight.data.copy_(torch.randn(n, generator=generator))
            sub.bias.data.copy_(torch.randn(n, generator=generator))
    return module.eval().requires_grad_(False)


def _loaded(module: nn.Module, key: str = "test_live", side: int = SIDE) -> LoadedModel:
    card = _card(ZooEntry(key, "", "", 0, ""))
    preset = ImageClassification(crop_size=side, resize_size=side, mean=(0.5,) * 3, std=(0.25,) * 3)
    return LoadedModel(key, card, module, True, "test", torch.device("cpu"), preset)


class Pooled(nn.Module):
    """Conv -> BN -> ReLU6 -> max-pool, then a grouped conv -> SiLU -> average pooling with padding."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.act = nn.ReLU6(inplace=True)
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.grouped = nn.Conv2d(8, 8, 3, stride=2, padding=2, dilation=2, groups=2, bias=False)
        self.silu = nn.SiLU()
        self.avg = nn.AvgPool2d(3, 2, padding=1, count_include_pad=False)
        self.depthwise = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.act(self.bn(self.conv(x))))
        x = self.avg(self.silu(self.grouped(x)))
        return self.head(self.depthwise(x) + x)


@pytest.fixture(scope="module")
def pooled() -> LoadedModel:
    torch.manual_seed(0)
    return _loaded(_randomise_norms(Pooled()))


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return photo((40, 30))


def _every_unit_matches(trace_, units: int = 40, seed: int = 0) -> None:
    """Random units (and the four corners, where the kernel hangs over the padding) equal the model's."""
    channels, height, width = trace_.output.shape
    rng = np.random.default_rng(seed)
    picks = [(c, r, k) for c in (0, channels - 1) for r in (0, height - 1) for k in (0, width - 1)]
    picks += [tuple(int(v) for v in rng.integers(0, (channels, height, width))) for _ in range(units)]
    for channel, row, col in picks:
        cell = explain_cell(trace_, channel, row, col)
        np.testing.assert_allclose(cell.conv_value, cell.conv_model, **TOLERANCE)
        for term in cell.steps:
            np.testing.assert_allclose(term.value, term.model, **TOLERANCE)
        np.testing.assert_allclose(cell.value, cell.model_value, **TOLERANCE)
        np.testing.assert_allclose(cell.contributions.sum() + cell.bias, cell.conv_value, rtol=1e-12, atol=1e-12)
        if cell.pool is not None:
            np.testing.assert_allclose(cell.pool.value, cell.pool.model, **TOLERANCE)


def test_plain_conv_with_bn_relu6_and_max_pooling(pooled, picture) -> None:
    t = trace(pooled, picture, "conv")
    assert [s.type for s in t.steps] == ["BatchNorm2d", "ReLU6"] and t.pool.type == "MaxPool2d" and not t.stopped
    batch, _ = model_input(pooled, picture)
    with torch.no_grad():  # an independent run of the same layers: the trace holds what they computed
        conv = pooled.module.conv(batch)
        np.testing.assert_allclose(t.inputs, batch[0].numpy(), rtol=1e-6)
        np.testing.assert_allclose(t.output, conv[0].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(t.steps[0].output, pooled.module.bn(conv)[0].numpy(), rtol=1e-5, atol=1e-5)
    _every_unit_matches(t)
    cell = explain_cell(t, 2, 0, 0)
    assert cell.patch.shape == (3, 3, 3) and not cell.inside[0].any() and cell.inside[1:, 1:].all()
    assert cell.steps[1].formula.startswith("min(max(0, ") and cell.steps[0].formula.count("√") == 1


def test_grouped_dilated_conv_with_silu_and_padded_average_pooling(pooled, picture) -> None:
    t = trace(pooled, picture, "grouped")
    assert [s.type for s in t.steps] == ["SiLU"] and t.pool.type == "AvgPool2d" and t.bias is None
    _every_unit_matches(t)
    cell = explain_cell(t, 5, 1, 1)  # the second group: filters 4..7 see input channels 4..7
    assert list(cell.input_channels) == [4, 5, 6, 7] and cell.bias == 0.0


def test_depthwise_conv_sees_one_input_channel(pooled, picture) -> None:
    t = trace(pooled, picture, "depthwise")
    assert t.steps == () and t.pool is None
    _every_unit_matches(t)
    cell = explain_cell(t, 6, 2, 3)
    assert list(cell.input_channels) == [6] and cell.kernel.shape == (1, 3, 3)
    reference = F.conv2d(torch.tensor(t.inputs)[None].double(), torch.tensor(t.weight).double(),
                         torch.tensor(t.bias).double(), padding=1, groups=8)  # fmt: skip
    assert cell.conv_value == pytest.approx(float(reference[0, 6, 2, 3]), abs=1e-12)


def test_torchvision_mobilenet_v2_depthwise_pointwise_and_bn(picture) -> None:
    torch.manual_seed(0)
    module = _randomise_norms(zoo.entry("mobilenet_v2").build())
    model = _loaded(module, "mobilenet_v2_live", side=64)
    for name, kind in (("features.0.0", 3), ("features.2.conv.1.0", 1), ("features.2.conv.2", 96)):
        t = trace(model, picture, name)
        assert t.weight.shape[1] == kind
        expected = ["BatchNorm2d", "ReLU6"] if name != "features.2.conv.2" else ["BatchNorm2d"]
        assert [s.type for s in t.steps] == expected, name
        _every_unit_matches(t, units=15)


def test_a_residual_addition_ends_the_chain_with_a_reason(picture) -> None:
    torch.manual_seed(0)
    model = _loaded(_randomise_norms(zoo.entry("resnet18").build()), "resnet18_live", side=64)
    t = trace(model, picture, "layer1.0.conv2")
    assert [s.type for s in t.steps] == ["BatchNorm2d"] and "shortcut" in t.stopped
    _every_unit_matches(t, units=10)
    stem = trace(model, picture, "conv1")
    assert [s.type for s in stem.steps] == ["BatchNorm2d", "ReLU"] and stem.pool.type == "MaxPool2d"
    _every_unit_matches(stem, units=10)


def test_hooks_are_removed_after_success_and_after_an_error(pooled, picture) -> None:
    before = hook_count(pooled.module)
    trace(pooled, picture, "conv")
    assert hook_count(pooled.module) == before
    with pytest.raises(RuntimeError), trace_layer(pooled.module, "conv"):
        assert hook_count(pooled.module) > before
        pooled.module(torch.zeros(1, 5, SIDE, SIDE))  # wrong channel count: the forward raises
    assert hook_count(pooled.module) == before
    with pytest.raises(ValueError, match="'bn' is not a Conv2d"):
        trace(pooled, picture, "bn")


def test_the_trace_is_cached_and_moving_the_unit_never_runs_the_model(pooled, picture) -> None:
    TRACES.clear()
    calls = [0]
    handle = pooled.module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    try:
        first = get_trace(pooled, picture, "grouped")
        for row in range(first.output.shape[1]):
            explain_cell(get_trace(pooled, picture, "grouped"), 1, row, 0)
        assert calls == [1] and get_trace(pooled, picture, "grouped") is first
        get_trace(pooled, picture, "conv")
        assert calls == [2]
    finally:
        handle.remove()


def test_out_of_range_units_are_errors_that_name_them(pooled, picture) -> None:
    t = trace(pooled, picture, "conv")
    with pytest.raises(ValueError, match="channel must be between 0 and 7"):
        explain_cell(t, 8, 0, 0)
    with pytest.raises(ValueError, match="col must be between"):
        explain_cell(t, 0, 0, t.output.shape[2])
    with pytest.raises(ValueError, match="input_channel 4 is not seen"):
        sweep(trace(pooled, picture, "grouped"), 0, 0, 0, 4)


def test_the_sweep_crop_holds_each_units_window(pooled, picture) -> None:
    t = trace(pooled, picture, "grouped")  # stride 2, dilation 2, padding 2
    sw = sweep(t, 5, 2, 1, input_channel=6)
    assert sw.rows == (0, 1, 2, 3, 4) and sw.cols == (0, 1, 2, 3)
    for i, row in enumerate(sw.rows):
        for j, col in enumerate(sw.cols):
            window = sw.inputs[i * 2 : i * 2 + 5 : 2, j * 2 : j * 2 + 5 : 2]  # the dilated kernel's taps
            cell = explain_cell(t, 5, row, col)
            assert (window * sw.kernel).sum() == pytest.approx(cell.contributions[2], abs=1e-9)
            assert sw.output[i, j] == pytest.approx(cell.conv_model)


def test_pictures_and_figures(pooled, picture) -> None:
    t = trace(pooled, picture, "conv")
    cell = explain_cell(t, 1, 3, 4)
    waterfall = contributions_figure(cell)
    assert list(waterfall.data[0].x) == [f"in {i}" for i in cell.input_channels[cell.order]] + ["bias", "conv output"]
    assert waterfall.data[0].y[-1] == pytest.approx(cell.conv_value)
    assert len(patch_figure(cell, 0).data) == 3
    animated = sweep_figure(sweep(t, 1, 3, 4, 0))
    assert len(animated.frames) == 25 and animated.layout.updatemenus[0].buttons[0].method == "animate"
    assert map_with_unit(t.output[1], 3, 4, "viridis").size[0] >= 16
    assert field_on_image(picture, None, 0, 0).size == (320, 240)
    assert cell.csv().splitlines()[0] == "term,input_channel,value" and "ReLU6" in cell.csv()
    corner = explain_cell(t, 1, 0, 0)  # max-pooling 3x3 with padding 1: the window hangs over the corner
    assert np.isnan(corner.pool.window[0]).all() and corner.pool.value == np.nanmax(corner.pool.window)
    assert "MaxPool2d: the largest" in pool_figure(corner.pool).layout.title.text
    for fig in (waterfall, patch_figure(cell, 0), animated, pool_figure(corner.pool)):
        go.Figure(fig.to_dict())  # built from plain dicts without checks: Plotly's own validation passes
