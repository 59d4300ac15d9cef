"""Grad-CAM and the attribution methods: correct against independent oracles, leak-free, thread-safe."""

import copy
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from captum.attr import LayerAttribution, LayerGradCam
from PIL import Image
from torch import nn
from torchvision.models import resnet18

from core.explain import methods
from core.explain.gradcam import default_layer, explain, grad_cam, layer_choices, model_view
from core.io.assets import sample_images
from core.models.classify import classify
from core.models.loading import get_model
from core.models.registry import list_models, meta_model
from core.util.hooks import conv_layers, hook_count

SIZE = 128


@pytest.fixture(scope="module")
def net() -> nn.Module:
    torch.manual_seed(0)
    return resnet18(weights=None).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def shared():
    """The cached ResNet-18 with random weights, as every session of the app shares it."""
    return get_model("resnet18", pretrained=False)


@pytest.fixture(scope="module")
def cat() -> Image.Image:
    return Image.open(sample_images()["cat"]).convert("RGB")


def tiny_vgg(inplace: bool = True) -> nn.Module:
    """A small VGG-like classifier whose convolutions feed in-place ReLUs (as torchvision's VGG)."""
    torch.manual_seed(0)
    return (
        nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(inplace=inplace),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, 5),
        )
        .eval()
        .requires_grad_(False)
    )


def by_hand(model: nn.Module, x: torch.Tensor, target: int, layer: nn.Module) -> np.ndarray:
    """Grad-CAM as the paper defines it, with plain autograd and nothing from core.explain.gradcam."""
    store = {}
    handle = layer.register_forward_hook(lambda _m, _i, out: store.update(act=out))
    try:
        logits = model(x.clone().requires_grad_())
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(logits[0, target], store["act"])
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * store["act"]).sum(dim=1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0].detach().numpy()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.mark.parametrize("layer", ["layer4", "layer3.1.conv2", "layer2"])
def test_grad_cam_matches_the_definition(net: nn.Module, batch: torch.Tensor, layer: str) -> None:
    maps = grad_cam(net, batch, [7], layer)
    assert maps.shape == (1, SIZE, SIZE) and maps.dtype == np.float32
    assert maps.min() == 0.0 and maps.max() == 1.0
    assert corr(maps[0], by_hand(net, batch, 7, dict(net.named_modules())[layer])) >= 0.99


def test_grad_cam_matches_pytorch_grad_cam(net: nn.Module, batch: torch.Tensor) -> None:
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    peer_model = copy.deepcopy(net)
    # Frozen weights: the peer needs an input that requires grad to see any gradient at the layer.
    with GradCAM(model=peer_model, target_layers=[peer_model.layer4[-1]]) as peer:
        expected = peer(input_tensor=batch.clone().requires_grad_(), targets=[ClassifierOutputTarget(3)])
    assert corr(grad_cam(net, batch, [3], net.layer4[-1])[0], expected[0]) >= 0.99


def test_grad_cam_equals_captum_and_keeps_the_conv_output_before_an_inplace_relu(batch: torch.Tensor) -> None:
    model, x = tiny_vgg(), batch[:, :, :32, :32]
    ours = grad_cam(model, x, [2], "3")  # the conv whose output the next ReLU overwrites in place
    layer_attr = LayerGradCam(model, model[3]).attribute(x.clone().requires_grad_(), target=2, relu_attributions=True)
    theirs = LayerAttribution.interpolate(layer_attr, (32, 32), interpolate_mode="bilinear")[0, 0].detach().numpy()
    theirs = (theirs - theirs.min()) / (theirs.max() - theirs.min())
    np.testing.assert_allclose(ours[0], theirs, atol=1e-5)
    plain = tiny_vgg(inplace=False)
    assert corr(ours[0], by_hand(plain, x, 2, plain[3])) >= 0.999


def test_top3_in_one_pass_equals_three_single_maps(net: nn.Module, batch: torch.Tensor) -> None:
    calls = []
    handle = net.register_forward_pre_hook(lambda _m, args: calls.append(args[0].shape[0]))
    try:
        together = grad_cam(net, batch, [3, 9, 500], "layer4")
    finally:
        handle.remove()
    assert calls == [1]  # one forward pass of the one image
    for i, target in enumerate([3, 9, 500]):
        np.testing.assert_allclose(together[i], grad_cam(net, batch, [target], "layer4")[0], atol=1e-5)
    assert not np.allclose(together[0], together[1])


def test_a_batch_of_images_gives_each_image_its_map(net: nn.Module) -> None:
    images = torch.randn(2, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    together = grad_cam(net, images, [4, 4], "layer3")
    for i in range(2):
        np.testing.assert_allclose(together[i], grad_cam(net, images[i : i + 1], [4], "layer3")[0], atol=1e-5)


@pytest.mark.parametrize(
    ("targets", "layer", "message"),
    [
        ([1000], "layer4", "target 1000 is out of range: the model has 1000 classes"),
        ([], "layer4", "one or more class indices"),
        ([1], "layer5", "'layer5' is not in ResNet"),
        ([1], "fc", "'fc' outputs \\(1, 1000\\)"),
        ([1], "layer4.1.relu", "runs more than once"),
    ],
)
def test_hooks_and_state_are_restored_after_an_error(
    net: nn.Module, batch: torch.Tensor, targets: list, layer: str, message: str
) -> None:
    model = copy.deepcopy(net).train()
    model.fc.weight.requires_grad_(True)
    sentinel = torch.ones_like(model.conv1.weight)
    model.conv1.weight.grad = sentinel
    lock = threading.RLock()
    with pytest.raises(ValueError, match=message):
        grad_cam(model, batch, targets, layer, lock)
    assert hook_count(model) == 0
    assert all(m.training for m in model.modules())
    assert model.fc.weight.requires_grad and not model.conv1.weight.requires_grad
    assert model.conv1.weight.grad is sentinel and model.fc.weight.grad is None
    acquired = []
    worker = threading.Thread(target=lambda: acquired.append(lock.acquire(blocking=False)))
    worker.start()
    worker.join()
    assert acquired == [True]


def test_state_is_restored_after_success_and_eval_mode_is_used(net: nn.Module, batch: torch.Tensor) -> None:
    model = copy.deepcopy(net).train()
    model.layer4.requires_grad_(True)
    maps = grad_cam(model, batch, [5], "layer4")
    np.testing.assert_allclose(maps, grad_cam(net, batch, [5], "layer4"), atol=1e-5)
    assert hook_count(model) == 0 and all(m.training for m in model.modules())
    assert all(p.grad is None for p in model.parameters())
    assert model.layer4[0].conv1.weight.requires_grad and not model.conv1.weight.requires_grad


def test_wrong_batch_shape_is_named(net: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"batch must have shape \(1, C, H, W\) or \(len\(targets\)=2"):
        grad_cam(net, torch.zeros(3, 3, 64, 64), [1, 2], "layer4")


def test_eight_threads_on_the_shared_model_give_the_single_threaded_maps(shared, cat: Image.Image) -> None:
    batch = F.interpolate(shared.to_input(cat), size=112)  # smaller than the app's 224: same code, less time
    targets = [0, 1, 2, 281, 282, 500, 700, 999]
    alone = {t: grad_cam(shared.module, batch, [t], "layer4.1", shared.lock) for t in targets}
    with torch.inference_mode():
        reference = shared.module(batch)
    results, failures, stop = {}, [], threading.Event()

    def worker(target: int) -> None:
        try:
            results[target] = grad_cam(shared.module, batch, [target], "layer4.1", shared.lock)
        except Exception as exc:  # reported below
            failures.append(exc)

    def plain_inference() -> None:  # another session classifying meanwhile, without the lock
        while not stop.is_set():
            with torch.inference_mode():
                if not torch.equal(shared.module(batch), reference):
                    failures.append(AssertionError("a concurrent forward pass saw the Grad-CAM hooks"))

    bystander = threading.Thread(target=plain_inference)
    bystander.start()
    threads = [threading.Thread(target=worker, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    bystander.join()
    assert not failures, failures
    for target in targets:
        np.testing.assert_array_equal(results[target], alone[target])
    assert hook_count(shared.module) == 0


def test_explain_gives_labels_probabilities_and_maps_for_a_loaded_model(shared, cat: Image.Image) -> None:
    top = classify(shared, cat, k=3).top
    targets = [p.index for p in top]
    result = explain(shared, cat, targets, ["layer4.1", "layer3.1.conv2"])
    assert result.labels == tuple(p.label for p in top)
    np.testing.assert_allclose(result.probabilities, [p.probability for p in top], rtol=1e-4)
    assert [m.layer for m in result.layers] == ["layer4.1", "layer3.1.conv2"]
    assert result.layers[0].maps.shape == (3, 224, 224) and result.layers[0].coarse.shape == (3, 7, 7)
    assert result.layers[1].coarse.shape == (3, 14, 14)
    again = explain(shared, cat, targets, ["layer4.1", "layer3.1.conv2"])
    np.testing.assert_array_equal(again.layers[0].maps, result.layers[0].maps)  # deterministic


def test_model_view_is_the_crop_the_model_sees(shared, cat: Image.Image) -> None:
    view = model_view(shared, cat)
    prep = shared.transforms
    assert view.size == (224, 224)
    rebuilt = TF.normalize(TF.to_tensor(view), prep.mean, prep.std)
    torch.testing.assert_close(rebuilt, shared.to_input(cat)[0].cpu(), atol=1e-6, rtol=0)


EXPECTED_DEFAULTS = {"resnet18": "layer4.1", "vgg16": "features", "mobilenet_v2": "features.18"}


@pytest.mark.parametrize("key", list_models())
def test_layer_choices_for_every_zoo_model(key: str) -> None:
    try:
        skeleton = meta_model(key)
    except FileNotFoundError as exc:  # a model whose files are not in this checkout yet
        pytest.skip(str(exc))
    choices = layer_choices(key)
    assert choices.default == EXPECTED_DEFAULTS.get(key, choices.default)
    assert sorted(choices.convs) == sorted(name for name, _ in conv_layers(skeleton))
    spatial = [name for name in choices.convs if choices.shapes[name][1] * choices.shapes[name][2] > 1]
    last_conv = spatial[-1]
    assert last_conv == choices.default or last_conv.startswith(choices.default + ".")  # the last conv block
    sides = [choices.shapes[name][1] for name in choices.depth]
    resolutions = {choices.shapes[name][1] for name in spatial}  # Tiny VGG has 2 (64 and 32 px maps)
    assert choices.depth[-1] == choices.default and sides == sorted(set(sides), reverse=True)
    assert len(sides) >= min(3, len(resolutions))


def test_default_layer_of_a_real_model_and_generic_fallbacks(net: nn.Module) -> None:
    assert default_layer(net) == "layer4.1" and hook_count(net) == 0
    assert next(net.parameters()).device.type == "cpu"

    class NoConv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.pool, self.head = nn.AvgPool2d(4), nn.Linear(3 * 16 * 16, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.pool(x).flatten(1))

    assert default_layer(NoConv(), size=64) == "pool"
    with pytest.raises(ValueError, match="no layer with a 4-D"):
        default_layer(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2)), size=8)


def scaled(values: torch.Tensor) -> np.ndarray:
    """The documented display rule for pixel attributions: divide by the 99th percentile, clip to [0, 1]."""
    values = values.detach().numpy()
    return np.clip(values / np.percentile(values, 99), 0, 1)


@pytest.mark.parametrize("key", list(methods.METHODS))
def test_each_method_costs_what_it_says_and_leaves_no_hooks(batch: torch.Tensor, key: str) -> None:
    model, x = tiny_vgg(), batch[:, :, :32, :32]
    options = methods.Options(steps=10, batch_size=4, window=8, stride=6)
    seen = {"calls": 0, "images": 0}

    def count(_module: nn.Module, args: tuple) -> None:
        seen["calls"] += 1
        seen["images"] += args[0].shape[0]

    handle = model.register_forward_pre_hook(count)
    try:
        heat = methods.heatmap(model, x, key, 2, "3", options)
    finally:
        handle.remove()
    cost = methods.METHODS[key].cost(options, (32, 32))
    assert (cost.calls, cost.forwards) == (seen["calls"], seen["images"])
    assert heat.shape == (32, 32) and heat.dtype == np.float32 and heat.min() >= 0 and heat.max() == 1
    assert hook_count(model) == 0 and not any(p.requires_grad or p.grad is not None for p in model.parameters())


def test_saliency_is_the_input_gradient(batch: torch.Tensor) -> None:
    model, x = tiny_vgg(), batch[:, :, :32, :32].clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(x)[0, 1], x)
    expected = scaled(grad.abs().sum(dim=1)[0])
    np.testing.assert_allclose(methods.heatmap(model, x.detach(), "saliency", 1, "3"), expected, atol=1e-6)


def test_integrated_gradients_of_a_linear_model_is_input_times_gradient(batch: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 16 * 16, 5)).requires_grad_(False)
    x = batch[:, :, :16, :16].clone().requires_grad_()
    (grad,) = torch.autograd.grad(model(x)[0, 4], x)  # constant: the model is linear
    expected = scaled((x * grad).sum(dim=1)[0].abs())
    heat = methods.heatmap(model, x.detach(), "integrated_gradients", 4, "0", methods.Options(steps=4, batch_size=3))
    np.testing.assert_allclose(heat, expected, atol=1e-4)


def test_occlusion_is_the_score_drop_under_each_square(batch: torch.Tensor) -> None:
    model, x = tiny_vgg(), batch[:, :, :16, :16]
    with torch.no_grad():
        score = model(x)[0, 0]
        drop = torch.zeros(16, 16)
        for top in (0, 8):
            for left in (0, 8):
                covered = x.clone()
                covered[:, :, top : top + 8, left : left + 8] = 0
                drop[top : top + 8, left : left + 8] = score - model(covered)[0, 0]
    expected = scaled(3 * drop.clamp(min=0))  # the same drop for each of the 3 channels
    heat = methods.heatmap(model, x, "occlusion", 0, "3", methods.Options(window=8, stride=8))
    np.testing.assert_allclose(heat, expected, atol=1e-5)


class GuidedReLU(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients where the input was positive."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x > 0) * (grad > 0)


def test_guided_grad_cam_is_guided_backprop_times_grad_cam(batch: torch.Tensor) -> None:
    model, x = tiny_vgg(), batch[:, :, :32, :32]
    guided_input = x.clone().requires_grad_()
    out = guided_input
    for layer in model:
        out = GuidedReLU.apply(out) if isinstance(layer, nn.ReLU) else layer(out)
    (guided,) = torch.autograd.grad(out[0, 3], guided_input)
    plain = tiny_vgg(inplace=False)
    cam = torch.from_numpy(by_hand(plain, x, 3, plain[3]))
    expected = scaled((guided * cam).sum(dim=1)[0].abs())
    np.testing.assert_allclose(methods.heatmap(model, x, "guided_grad_cam", 3, "3"), expected, atol=1e-5)
    assert hook_count(model) == 0


def test_guided_grad_cam_hooks_a_private_view_never_the_shared_model(
    shared, cat: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooked = []

    class Spy(methods.GuidedGradCam):
        def __init__(self, model: nn.Module, layer: nn.Module) -> None:
            hooked.append(model)
            super().__init__(model, layer)

    monkeypatch.setattr(methods, "GuidedGradCam", Spy)
    params = list(shared.module.parameters())
    result = methods.attribute(shared, cat, "guided_grad_cam", 281, "layer4.1")
    assert hooked and hooked[0] is not shared.module
    assert all(a is b for a, b in zip(hooked[0].parameters(), params, strict=True))  # weights shared, not copied
    assert hook_count(shared.module) == 0 and list(shared.module.parameters()) == params
    assert (result.label, result.cost, result.note) == (shared.categories[281], methods.Cost(2, 2, 2), "")
    assert result.heat.shape == (224, 224)


def test_bad_options_and_unknown_methods_are_named(batch: torch.Tensor) -> None:
    model, x = tiny_vgg(), batch[:, :, :32, :32]
    with pytest.raises(ValueError, match="window must be between 2 and 32 for a 32x32 input, got 64"):
        methods.heatmap(model, x, "occlusion", 0, "3", methods.Options(window=64))
    with pytest.raises(ValueError, match="Unknown method 'lime'; choose one of: grad_cam"):
        methods.heatmap(model, x, "lime", 0, "3")
    assert methods.Cost(170, 0, 12).describe() == "170 forward passes in 12 batches"
    assert methods.Cost(1, 1, 1).describe() == "1 forward + 1 backward pass"


def test_a_class_the_model_does_not_have_is_named(shared, cat: Image.Image) -> None:
    with pytest.raises(ValueError, match="target 1000 is out of range: ResNet-18 has 1000 classes"):
        methods.attribute(shared, cat, "saliency", 1000, "layer4.1")
