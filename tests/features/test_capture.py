"""Capturing every convolution's maps: values, hooks, caching, sharing, kernels and views."""

import threading

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from core.features import capture as activations
from core.features import pictures as feature_views
from core.features.capture import (
    ACTIVATIONS,
    capture,
    conv_kernels,
    get_activations,
    input_sizes,
    model_input,
    record_conv_maps,
)
from core.models.layer_table import layer_table
from core.models.loading import LoadedModel, get_model
from core.models.registry import entry, list_models, meta_model, model_card
from core.util.hooks import conv_layers, hook_count
from core.viz.render import COLORMAPS, apply_colormap, normalize, upscale_nearest
from tests.bad_images import photo

SIZE = 128


@pytest.fixture(scope="module")
def resnet():
    return get_model("resnet18", pretrained=False)


@pytest.fixture(scope="module")
def picture() -> Image.Image:
    return photo((160, 120))


def _close(recorded: np.ndarray, expected: torch.Tensor) -> None:
    np.testing.assert_allclose(recorded.astype(np.float32), expected.numpy(), rtol=2e-3, atol=2e-3)


def test_maps_are_taken_after_the_norm_and_activation_that_follow(resnet, picture) -> None:
    acts = capture(resnet, picture, SIZE)
    net = resnet.module
    batch, _ = model_input(resnet, picture, SIZE)
    with torch.no_grad():
        stem = net.relu(net.bn1(net.conv1(batch)))
        block = net.layer1[0]
        inner = block.relu(block.bn1(block.conv1(net.maxpool(stem))))
        out = block(net.maxpool(stem))
        shortcut = net.layer2[0].downsample(net.layer1(net.maxpool(stem)))
    assert acts.layer("conv1").after == ("BatchNorm2d", "ReLU")
    _close(acts.layer("conv1").maps, stem[0])
    _close(acts.layer("layer1.0.conv1").maps, inner[0])
    _close(acts.layer("layer1.0.conv2").maps, out[0])  # the ReLU after the skip connection
    assert acts.layer("layer2.0.downsample.0").after == ("BatchNorm2d",)
    _close(acts.layer("layer2.0.downsample.0").maps, shortcut[0])


def test_every_convolution_with_its_settings_and_shape(resnet, picture) -> None:
    acts = capture(resnet, picture, SIZE)
    table = {row.name: row for row in layer_table("resnet18", SIZE)}
    assert acts.names == tuple(name for name, _ in conv_layers(resnet.module))
    for layer in acts.layers:
        assert layer.shape == table[layer.name].output_shape and layer.params == table[layer.name].params
        assert layer.maps.dtype == np.float16 and not layer.maps.flags.writeable
    conv1 = acts.layer("conv1")
    assert (conv1.kernel, conv1.stride, conv1.padding, conv1.kind) == ((7, 7), (2, 2), (3, 3), "standard")
    assert conv1.receptive_field.size == (7, 7) and acts.layer("layer4.1.conv2").receptive_field.size == (435, 435)
    assert acts.image.size == (SIZE, SIZE) and acts.model == "ResNet-18 · untrained" and not acts.trained
    with pytest.raises(ValueError, match="'fc' is not a convolution"):
        acts.layer("fc")


def test_per_channel_statistics(resnet, picture) -> None:
    layer = capture(resnet, picture, SIZE).layer("layer3.0.conv1")
    values = layer.maps.astype(np.float64).reshape(layer.out_channels, -1)
    np.testing.assert_allclose(layer.mean, values.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(layer.peak, values.max(1).astype(np.float32))
    np.testing.assert_allclose(layer.zeros, (values == 0).mean(1))  # after a ReLU: exact zeros
    top = layer.top_channels(5)
    assert list(top) == sorted(range(layer.out_channels), key=lambda c: -values[c].mean())[:5]


def test_values_too_large_for_float16_stay_float32() -> None:
    assert activations._to_cpu(torch.full((2, 2), 1e5)).dtype == torch.float32
    assert activations._to_cpu(torch.tensor([1.0, float("nan")])).dtype == torch.float32
    assert activations._to_cpu(torch.full((2, 2), -3.5)).dtype == torch.float16


class InPlace(nn.Module):
    """A VGG-style in-place ReLU, and a residual added in place after a non-follower module."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4).eval()
        self.gate = nn.Identity()  # like torchvision's StochasticDepth in eval mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.conv(x))
        out = self.gate(self.bn(self.conv2(y)))
        out += y
        return out


def test_in_place_operations_do_not_change_recorded_maps() -> None:
    torch.manual_seed(0)
    net, x = InPlace(), torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        first = torch.relu(net.conv(x))
        second = net.bn(net.conv2(first))
        with record_conv_maps(net) as recorded:
            net(x)
    assert recorded["conv"][1] == ("ReLU",) and recorded["conv2"][1] == ("BatchNorm2d",)
    _close(recorded["conv"][0][0].numpy(), first[0])
    _close(recorded["conv2"][0][0].numpy(), second[0])  # before `out += y`


def test_no_hook_is_left_after_success_or_an_exception(resnet) -> None:
    net = resnet.module
    before = hook_count(net)
    with record_conv_maps(net), torch.no_grad():
        net(torch.zeros(1, 3, 64, 64))
    assert hook_count(net) == before
    with pytest.raises(RuntimeError), record_conv_maps(net), torch.no_grad():
        net(torch.zeros(1, 5, 64, 64))  # wrong number of channels
    assert hook_count(net) == before


def test_a_failing_capture_explains_and_leaves_no_hook(resnet, picture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(activations, "model_input", lambda *_: (torch.zeros(1, 5, 64, 64), picture))
    with pytest.raises(ValueError, match="cannot run on a 64 px input"):
        capture(resnet, picture, SIZE)
    assert hook_count(resnet.module) == 0


def test_maps_without_receptive_fields_when_they_cannot_be_traced(resnet, picture, monkeypatch) -> None:
    def untraceable(*_):
        raise NotImplementedError("no meta kernel")

    monkeypatch.setattr(activations, "model_receptive_fields", untraceable)
    acts = capture(resnet, picture, SIZE)
    assert len(acts.layers) == 20 and all(layer.receptive_field is None for layer in acts.layers)


def _count_forwards(module: nn.Module) -> tuple[list[int], object]:
    calls = [0]
    handle = module.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls, handle


def test_cache_runs_the_model_once_per_model_image_and_size(resnet, picture) -> None:
    ACTIVATIONS.clear()
    calls, handle = _count_forwards(resnet.module)
    try:
        first = get_activations(resnet, picture, SIZE)
        for name in first.names:  # what a layer change reads
            assert first.layer(name).maps.size
        assert get_activations(resnet, picture.copy(), SIZE) is first and calls == [1]
        get_activations(resnet, picture, 160)
        get_activations(resnet, picture.rotate(90), SIZE)
        assert calls == [3]
    finally:
        handle.remove()
        ACTIVATIONS.clear()


def test_concurrent_sessions_get_their_own_maps(resnet, picture) -> None:
    """Captures on one cached model, while another session runs it unlocked, stay exact."""
    other = photo((90, 90))
    expected = capture(resnet, picture, SIZE).layer("layer2.1.conv2").maps.copy()
    stop = threading.Event()

    def classify_loop() -> None:  # like core.models.classify: no lock, no hooks
        batch = resnet.to_input(other)
        while not stop.is_set():
            with torch.inference_mode():
                resnet.module(batch)

    results: list[np.ndarray] = []
    threads = [threading.Thread(target=classify_loop)] + [
        threading.Thread(target=lambda: results.append(capture(resnet, picture, SIZE).layer("layer2.1.conv2").maps))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join()
    stop.set()
    threads[0].join()
    assert len(results) == 2 and all(np.array_equal(r, expected) for r in results)
    assert hook_count(resnet.module) == 0


def test_model_input_matches_the_models_own_preprocessing(resnet, picture) -> None:
    batch, view = model_input(resnet, picture)
    assert torch.equal(batch, resnet.to_input(picture)) and view.size == (224, 224)
    assert model_input(resnet, picture, 160)[0].shape == (1, 3, 160, 160)
    assert input_sizes(resnet)[0] == 224
    with pytest.raises(ValueError, match="size 100 px is not offered"):
        model_input(resnet, picture, 100)


def test_kernels_are_the_layers_weights_ordered_by_norm(resnet) -> None:
    kernels = conv_kernels(resnet, "layer1.0.conv1")
    weights = resnet.module.layer1[0].conv1.weight
    np.testing.assert_array_equal(kernels.weights, weights.numpy())
    norms = weights.flatten(1).norm(dim=1).numpy()
    np.testing.assert_allclose(kernels.norms, norms, rtol=1e-5)
    assert list(kernels.order(True)) == list(np.argsort(-norms)) and list(kernels.order(False)) == list(range(64))
    with pytest.raises(ValueError, match="'layer1' is not a Conv2d"):
        conv_kernels(resnet, "layer1")


@pytest.fixture(scope="module")
def acts(resnet, picture):
    return capture(resnet, picture, SIZE)


@pytest.mark.parametrize("shared", [False, True])
def test_feature_grid_puts_each_channel_in_its_cell(acts, shared: bool) -> None:
    layer = acts.layer("layer4.1.conv2")  # 512 maps of 4x4 at 128 px: 23 columns, each map enlarged 8x
    grid = feature_views.feature_grid(layer, "gray", shared=shared)
    assert grid.shape == (23 * 33 - 1, 23 * 33 - 1, 3) and (grid[32, :] == 255).all()
    scaled = normalize(layer.maps, axis=None if shared else (1, 2))
    for channel in (0, 5, 100, 511):
        row, col = divmod(channel, 23)
        cell = grid[row * 33 : row * 33 + 32, col * 33 : col * 33 + 32]
        np.testing.assert_array_equal(cell, upscale_nearest(apply_colormap(scaled[channel], "gray"), 8))
    ordered = feature_views.feature_grid(layer, "gray", shared=shared, channels=layer.top_channels(512))
    first = upscale_nearest(apply_colormap(scaled[layer.top_channels(1)[0]], "gray"), 8)
    np.testing.assert_array_equal(ordered[:32, :32], first)


def test_channel_on_image_boxes_the_receptive_field_of_the_strongest_unit(acts) -> None:
    layer = acts.layer("conv1")  # 7x7 field, 2 px apart, centred on pixel 2 * index
    seen = feature_views.channel_on_image(acts, layer, 3, "jet")
    row, col = seen.unit
    assert seen.value == layer.maps[3].max() == layer.maps[3][row, col]
    assert seen.window == (
        max(2 * col - 3, 0),
        max(2 * row - 3, 0),
        min(2 * col + 3, SIZE - 1),
        min(2 * row + 3, SIZE - 1),
    )
    assert seen.picture.size == acts.image.size
    with pytest.raises(ValueError, match="channel must be between 0 and 63"):
        feature_views.channel_on_image(acts, layer, 64, "jet")


def test_kernel_pictures_and_numbers(resnet) -> None:
    first, deeper = conv_kernels(resnet, "conv1"), conv_kernels(resnet, "layer1.0.conv1")
    rgb = feature_views.kernel_grid(first, feature_views.KERNEL_VIEWS[0], first.order(True))
    assert rgb.shape == (8 * 29 - 1, 8 * 29 - 1, 3)  # 64 kernels of 7x7 enlarged 4x
    per_input = feature_views.kernel_grid(deeper, feature_views.KERNEL_VIEWS[2], deeper.order(False), 3)
    assert per_input.shape == (8 * 31 - 1, 8 * 31 - 1, 3)  # 64 input channels of 3x3 enlarged 10x
    with pytest.raises(ValueError, match="needs 3 input channels"):
        feature_views.kernel_grid(deeper, feature_views.KERNEL_VIEWS[0], deeper.order(False))
    np.testing.assert_allclose(feature_views.symmetric01(np.array([-2.0, 0.0, 1.0])), [0.0, 0.5, 0.75])
    figure = feature_views.kernel_heatmap(deeper.weights[3, 0], "filter 3")
    np.testing.assert_array_equal(np.asarray(figure.data[0].z), deeper.weights[3, 0])
    assert figure.data[0].zmid == 0


def _quick_random(key: str) -> LoadedModel:
    """A zoo model with small random weights, built on the meta device and filled (no slow init)."""
    module = meta_model(key).to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in module.parameters():
            param.normal_(0, 0.05, generator=generator)
        for name, buffer in module.named_buffers():
            buffer.fill_(1 if name.endswith("running_var") else 0)
    return LoadedModel(key, model_card(key), module, False, "test", torch.device("cpu"), entry(key).transforms())


@pytest.mark.slow
@pytest.mark.parametrize("key", list_models())
def test_every_zoo_model_captures_and_draws(key: str, picture) -> None:
    model = _quick_random(key)
    size = min(input_sizes(model))
    acts = capture(model, picture, size)
    convs = conv_layers(model.module)
    assert acts.names == tuple(name for name, _ in convs)
    table = {row.name: row.output_shape for row in layer_table(key, size)}
    assert all(layer.shape == table[layer.name] and layer.receptive_field for layer in acts.layers)
    kinds = {layer.kind for layer in acts.layers}
    assert ("depthwise" in kinds) == any(conv.groups == conv.in_channels > 1 for _, conv in convs)
    assert hook_count(model.module) == 0
    grid = feature_views.feature_grid(acts.layers[-1], COLORMAPS[0], shared=False)
    assert grid.ndim == 3 and grid.dtype == np.uint8
    assert len(feature_views.depth_strip(acts, COLORMAPS[0], on_image=True)) >= 3
