"""EfficientNet-Lite0, the real ImageNet network that installs with ConvLens: checked against its
reference implementation, and every lesson of the app checked on its real weights."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
from torchvision.models._meta import _IMAGENET_CATEGORIES
from torchvision.transforms import InterpolationMode

from core.explain.gradcam import explain, layer_choices
from core.explain.methods import heatmap
from core.explain.sanity import cascading_randomization
from core.features.capture import conv_kernels
from core.features.conv_arithmetic import model_receptive_fields
from core.io.assets import sample_images
from core.models import efficientnet_lite as lite
from core.models import registry as zoo
from core.models.classify import classify
from core.models.loading import from_state_dict, get_model
from core.models.weights import default_key
from core.transfer import blocks, head_name
from tests.conftest import shared_path
from tests.features.test_conv_arithmetic import _clipped, _gradient_window

KEY = lite.KEY


@pytest.fixture(scope="module")
def model():
    return get_model(KEY, device=torch.device("cpu"))


def _reference() -> nn.Module:
    """The reference package's EfficientNet-Lite0 with the same checkpoint (it prints a line: kept quiet)."""
    from efficientnet_lite_pytorch import EfficientNet  # dev-only dependency (requirements-dev.txt)

    with contextlib.redirect_stdout(io.StringIO()):
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(lite.weights_path()))
    return net.eval()


def _photos() -> list[Image.Image]:
    photos = [Image.open(path).convert("RGB") for path in sample_images().values() if path.suffix == ".jpg"]
    try:
        folder = shared_path("images")
    except pytest.skip.Exception:
        return photos
    return photos + [Image.open(path).convert("RGB") for path in sorted(folder.iterdir())]


def test_weights_come_from_the_installed_package_and_load_strictly(model) -> None:
    path = lite.weights_path()
    assert path is not None and path.name == lite.WEIGHTS_FILE and "site-packages" in str(path)
    assert model.trained and model.source.startswith("shipped with ConvLens") and str(path) in model.source
    assert default_key() == KEY  # no ResNet-18 weights in the test hub


def test_same_logits_as_the_reference_implementation_on_real_photos(model) -> None:
    reference = _reference()
    photos = _photos()
    assert len(photos) >= 5
    batch = torch.cat([model.to_input(photo) for photo in photos])
    with torch.no_grad():
        ours, theirs = model.module(batch), reference(batch)
    assert (ours - theirs).abs().max().item() < 1e-4
    assert (ours.argmax(1) == theirs.argmax(1)).all()


def test_card_is_measured_and_sourced() -> None:
    card = zoo.model_card(KEY)
    reference_params = sum(p.numel() for p in _reference().parameters())
    assert card.params == reference_params == 4_652_008  # Google: 4.7M
    assert 0.35 < card.gflops < 0.42  # Google: 407M multiply-adds; FlopCounterMode counts 385M
    assert card.top1 == 75.1 and "efficientnet/lite" in lite.TOP1_SOURCE
    assert card.categories == tuple(_IMAGENET_CATEGORIES) and len(card.categories) == 1000
    prep = zoo.entry(KEY).transforms()
    assert prep.interpolation == InterpolationMode.BICUBIC and (prep.crop_size, prep.resize_size) == ([224], [256])
    assert np.allclose(np.array(prep.mean) * 255, 127) and np.allclose(np.array(prep.std) * 255, 128)


@pytest.mark.parametrize("size", [15, 16, 17, 224, 225])
@pytest.mark.parametrize(("kernel", "stride"), [(3, 2), (5, 2), (3, 1), (5, 1)])
def test_same_padding_is_tensorflows(size: int, kernel: int, stride: int) -> None:
    torch.manual_seed(0)
    conv = lite.Conv2dSame(2, 3, kernel, stride)
    x = torch.randn(1, 2, size, size)
    out_side = -(-size // stride)
    total = max((out_side - 1) * stride + kernel - size, 0)
    before, after = total // 2, total - total // 2  # TensorFlow: the odd pixel goes bottom-right
    expected = F.conv2d(F.pad(x, [before, after, before, after]), conv.weight, conv.bias, stride)
    out = conv(x)
    assert out.shape[-1] == out_side
    torch.testing.assert_close(out, expected)


def test_checkpoint_keys_map_one_to_one_and_our_own_files_load_too(model, tmp_path) -> None:
    original = torch.load(lite.weights_path(), map_location="cpu", weights_only=True)
    converted = lite.convert_state_dict(original)
    assert len(converted) == len(original) and set(converted) == set(lite.build().state_dict())
    assert lite.convert_state_dict(converted).keys() == converted.keys()  # our own names pass unchanged
    path = tmp_path / "mine.pt"
    torch.save(model.module.state_dict(), path)
    again = from_state_dict(KEY, path, device=torch.device("cpu"))
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(again.module(x), model.module(x))


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("cat", {"tiger cat", "Egyptian cat", "tabby"}),
        ("coffee", {"espresso", "cup"}),
        ("motorcycle", {"moped", "motor scooter"}),
        ("rocket", {"missile", "projectile", "space shuttle"}),
    ],
)
def test_top5_on_the_shipped_photos(model, sample: str, expected: set[str]) -> None:
    result = classify(model, Image.open(sample_images()[sample]).convert("RGB"))
    labels = [p.label for p in result.top]
    assert labels[0] in expected and expected <= set(labels), labels


@pytest.mark.slow
def test_zero_shot_ants_and_bees(model) -> None:
    """ImageNet has both classes (310 ant, 309 bee): the real network tells them apart untrained on them."""
    val = shared_path("data", "hymenoptera_data", "val")
    right = total = 0
    for label, index in (("ants", 310), ("bees", 309)):
        paths = sorted((val / label).iterdir())
        for start in range(0, len(paths), 32):
            batch = torch.cat([model.to_input(Image.open(p).convert("RGB")) for p in paths[start : start + 32]])
            with torch.no_grad():
                logits = model.module(batch)[:, [310, 309]]
            right += int((logits.argmax(1) == (0 if index == 310 else 1)).sum())
            total += len(batch)
    assert total == 153 and right / total >= 0.95, f"{right}/{total}"


# Boxes drawn by hand on the 224x224 view the model sees of both.png: (left, top, right, bottom).
DOG_BOX, CAT_BOX = (65, 0, 180, 150), (30, 125, 224, 224)


def _inside(point: tuple[int, int], box: tuple[int, int, int, int]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_grad_cam_finds_the_dog_and_the_cat(model) -> None:
    both = Image.open(shared_path("images", "both.png")).convert("RGB")
    assert layer_choices(KEY).default == "features.17"  # the last spatial layer (7x7)
    result = explain(model, both, [243, 282])  # bull mastiff, tiger cat
    peaks = []
    for cam in result.layers[0].maps:
        row, col = np.unravel_index(cam.argmax(), cam.shape)
        peaks.append((int(col), int(row)))
    assert _inside(peaks[0], DOG_BOX) and not _inside(peaks[0], CAT_BOX), peaks
    assert _inside(peaks[1], CAT_BOX) and not _inside(peaks[1], DOG_BOX), peaks
    deeper = explain(model, both, [243], ["features.12", "features.6.block.0.0"])  # any layer
    assert [layer.maps.shape for layer in deeper.layers] == [(1, 224, 224)] * 2


def test_captum_methods_and_the_sanity_check_on_the_real_network(model) -> None:
    cat = Image.open(sample_images()["cat"]).convert("RGB")
    batch = model.to_input(cat)
    for key in ("saliency", "guided_grad_cam"):
        heat = heatmap(model.module, batch, key, 282, "features.17")
        assert heat.shape == (224, 224) and np.isfinite(heat).all() and heat.max() > 0
    check = cascading_randomization(model, cat, "grad_cam", 282, "features.17", max_steps=2)
    assert check.stages[-1].spearman < 0.5  # randomised weights: the map changes
    assert np.abs(check.stages[-1].heat - check.original).max() > 0.1


def _autocorrelation(kernels: np.ndarray, axis: int) -> float:
    """Correlation of neighbouring weights along ``axis`` (-1 across, -2 down) within each kernel slice."""
    first = np.take(kernels, range(kernels.shape[axis] - 1), axis=axis).ravel()
    second = np.take(kernels, range(1, kernels.shape[axis]), axis=axis).ravel()
    return float(np.corrcoef(first, second)[0, 1])


def _colour_correlation(kernels: np.ndarray) -> float:
    """Mean correlation between the red, green and blue slices of the same kernels."""
    pairs = [(0, 1), (1, 2), (0, 2)]
    return float(np.mean([np.corrcoef(kernels[:, a].ravel(), kernels[:, b].ravel())[0, 1] for a, b in pairs]))


def test_first_layer_kernels_are_smooth_not_noise(model) -> None:
    learned = conv_kernels(model, "features.0.0").weights
    untrained = conv_kernels(get_model(KEY, pretrained=False, device=torch.device("cpu")), "features.0.0").weights
    assert learned.shape == untrained.shape == (32, 3, 3, 3)
    # Neighbouring weights move together (smooth edges), and a kernel's colour slices look alike
    # (luminance edges): for the seeded random kernels of the same shape, both are near zero.
    assert _autocorrelation(learned, -1) > 0.4 > 0.15 > abs(_autocorrelation(untrained, -1))
    assert _colour_correlation(learned) > 0.3 > 0.15 > abs(_colour_correlation(untrained))


def test_transfer_replaces_the_classifier_and_counts_mbconv_blocks() -> None:
    module = lite.build()
    head = head_name(module)
    units = blocks(module, head)
    assert head == "classifier.1" and units == [f"features.{i}" for i in range(18)]
    assert sum(isinstance(module.get_submodule(u), lite.MBConv) for u in units) == 16


def _linearised(model: nn.Module) -> nn.Module:
    for name, module in list(model.named_modules()):
        if isinstance(module, (nn.ReLU6, nn.BatchNorm2d)):
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent), attr, nn.Identity())
    with torch.no_grad():
        for param in model.parameters():
            param.abs_().add_(0.01)
    return model.eval()


@pytest.mark.parametrize(
    ("layer", "unit"), [("features.0.0", (0, 0)), ("features.4.block.1.0", (3, 2)), ("features.6.block.1.0", (1, 1))]
)
def test_receptive_fields_follow_tensorflow_padding(layer: str, unit: tuple[int, int]) -> None:
    size = 128
    field = model_receptive_fields(KEY, size)[layer]
    assert _gradient_window(_linearised(lite.build()), layer, size, unit) == _clipped(field.window(*unit), size)
