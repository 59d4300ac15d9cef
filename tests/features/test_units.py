"""Dataset examples and feature visualisation (core), against brute force and oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.config.settings import get_settings
from core.datasets import shapes
from core.datasets.catalog import DatasetChoice
from core.datasets.folders import Sample
from core.datasets.image_sets import SAMPLES_LABEL, ImageSet, image_sources, load_image_set
from core.datasets.tensors import Preprocess
from core.features import dataset_examples as de
from core.features import example_patches as ep
from core.features import feature_vis as fvis
from core.features import unit_location as ul
from core.features import unit_maxima as um
from core.features import vis_params as vp
from core.features import vis_shape as vs
from core.models.loading import get_model
from core.util.hooks import capture_outputs
from tests import tiny_models
from tests.hooks import hook_count
from tests.tiny_datasets import make_dataset


def _brute_force(model, images: ImageSet, size: int, relus: dict[str, str]) -> dict[str, np.ndarray]:
    """Every map kept (no reduction in hooks): each conv's map is the output of the ReLU after it."""
    preprocess = Preprocess.for_model(model.transforms, size)
    batch = preprocess.batch(torch.stack([preprocess.decode(s.path) for s in images.samples]))
    with capture_outputs(model.module, list(relus.values())) as outputs, torch.no_grad():
        model.module(batch)
    return {conv: outputs[relu].numpy() for conv, relu in relus.items()}


def _check_against(model, result: um.UnitMaxima, maps: dict[str, np.ndarray]) -> None:
    for layer, full in maps.items():
        n, c, h, w = full.shape
        assert result.shapes[layer] == (h, w)
        flat = full.reshape(n, c, h * w)
        np.testing.assert_allclose(result.maxima[layer], flat.max(axis=2), rtol=1e-5, atol=1e-6)
        top = result.top(layer, 3, 5)
        assert [i for i, _ in top] == list(np.argsort(-flat.max(axis=2)[:, 3], kind="stable")[:5])
        places = ul.locate(model, result, layer, 3, [i for i, _ in top])
        assert places == [divmod(int(flat[i, 3].argmax()), w) for i, _ in top]  # the first maximum, as argmax
        for (i, value), (row, col) in zip(top, places, strict=True):
            assert full[i, 3, row, col] == pytest.approx(value)


def test_one_pass_equals_brute_force_with_batchnorm_and_two_batches(tmp_path) -> None:
    root = make_dataset(tmp_path / "colours", counts={"red": 20, "blue": 20})
    images = load_image_set(DatasetChoice("colours", root))
    assert len(images.samples) > de.BATCH  # the result is put together from two batches
    with tiny_models.registered() as key:
        model = get_model(key, pretrained=False)
        result = de.dataset_maxima(model, images, 16)
        assert len(result.paths) == len(images.samples) and result.layers == ("stem.0", "block.0")
        _check_against(model, result, _brute_force(model, images, 16, {"stem.0": "stem.2", "block.0": "block.2"}))
        assert hook_count(model.module) == 0
        again = de.dataset_maxima(model, images, 16)
    assert again.cached and again.paths == result.paths
    for layer in result.layers:
        np.testing.assert_array_equal(again.maxima[layer], result.maxima[layer])


def test_classroom_model_on_the_sample_photos_and_patches_at_the_receptive_field() -> None:
    model = get_model("tiny_vgg")
    source = next(s for s in image_sources() if s.label == SAMPLES_LABEL)
    images = load_image_set(source)
    result = de.dataset_maxima(model, images, 64)
    relus = {
        f"features.conv_{b}_{c}": f"features.relu_{b}_{c}" for b, n in ((1, 2), (2, 2), (3, 3)) for c in range(1, n + 1)
    }
    maps = _brute_force(model, images, 64, relus)
    _check_against(model, result, maps)
    examples = ep.channel_examples(model, result, "features.conv_1_1", 3)
    assert len(examples) == 9 and [e.value for e in examples] == sorted((e.value for e in examples), reverse=True)
    for example in examples:  # a 3x3 conv at stride 1: the 3x3 window centred on the unit, clipped to the image
        row, col = example.unit
        assert example.window == (max(row - 1, 0), max(col - 1, 0), min(row + 1, 63), min(col + 1, 63))
        assert example.patch.size == (
            example.window[3] - example.window[1] + 1,
            example.window[2] - example.window[0] + 1,
        )
    deep = ep.channel_examples(model, result, "features.conv_3_3", 0, k=4)
    assert len(deep) == 4 and all(e.patch.width > 20 for e in deep)
    lines = ul.channel_csv(model, result, "features.conv_1_1", 3).splitlines()
    assert lines[0] == "rank,image,max,row,col" and len(lines) == 1 + len(images.samples)
    flat = maps["features.conv_1_1"][:, 3].reshape(len(images.samples), -1)
    for line in lines[1:]:  # every image located, at its first maximum
        _, path, value, row, col = line.split(",")
        i = [Path(p).name for p in result.paths].index(path)
        assert float(value) == pytest.approx(flat[i].max(), rel=1e-5) and (int(row), int(col)) == divmod(
            int(flat[i].argmax()), 64
        )
    assert ep.examples_grid(examples).size == (3 * 132 - 4, 3 * 132 - 4)
    with pytest.raises(ValueError, match="channel must be between 0 and 15"):
        result.top("features.conv_1_1", 16)
    with pytest.raises(ValueError, match="was not recorded"):
        result.top("classifier", 0)


def test_a_cancelled_pass_leaves_no_partial_cache(tmp_path) -> None:
    root = make_dataset(tmp_path / "colours", counts={"red": 30, "blue": 30})
    images = load_image_set(DatasetChoice("colours", root))
    checks = []
    with tiny_models.registered() as key:
        model = get_model(key, pretrained=False)
        with pytest.raises(um.Cancelled):
            de.dataset_maxima(model, images, 16, cancel=lambda: checks.append(1) or len(checks) > 1)
        assert len(checks) == 2 and hook_count(model.module) == 0
        folder = get_settings().home / "unit-examples"
        assert not folder.exists() or not any(folder.iterdir())
        assert de.find_cached_maxima(model, images, 16) is None
        seen = []
        de.dataset_maxima(model, images, 16, progress=lambda done, total: seen.append((done, total)))
        assert seen[-1] == (len(images.samples), len(images.samples)) and len(seen) == 2
        assert [p.name for p in folder.iterdir()] == [de.cache_path(model, images, 16).name]


def test_sample_photos_image_set_is_what_the_sidebar_offers() -> None:
    images = load_image_set(next(s for s in image_sources() if s.label == SAMPLES_LABEL))
    assert len(images.samples) == 9 and all(isinstance(s, Sample) for s in images.samples)
    assert images.digest() == load_image_set(DatasetChoice(SAMPLES_LABEL, images.root)).digest()


def _mean_of(model, layer: str, channel: int, picture) -> float:
    with capture_outputs(model.module, [layer]) as outputs, torch.no_grad():
        model.module(model.to_input(picture))
    return float(outputs[layer][0, channel].mean())


def test_feature_vis_raises_the_objective_stays_an_image_and_leaves_no_hooks() -> None:
    model = get_model("tiny_vgg")
    flags = [p.requires_grad for p in model.module.parameters()]
    frames = []
    result = fvis.visualise(
        model, "features.conv_3_3", 7, size=64, steps=16, progress=lambda s, n, image: frames.append((s, image))
    )
    assert result.final > result.start + 0.1 and max(result.history[-4:]) > result.history[0]
    assert result.image.shape == (64, 64, 3) and result.image.min() >= 0 and result.image.max() <= 1
    assert [s for s, _ in frames] == [8, 16] and frames[-1][1].shape == (64, 64, 3)
    assert hook_count(model.module) == 0 and [p.requires_grad for p in model.module.parameters()] == flags
    assert all(p.grad is None for p in model.module.parameters())
    assert not any(isinstance(m, vp.RedirectedReLU) for m in model.module.modules())  # the shared model untouched
    # The result is what the model itself (no hooks of ours, no redirected ReLU) sees: relu_3_3 after conv_3_3.
    grey = _mean_of(model, "features.relu_3_3", 7, fvis.to_picture(np.full((64, 64, 3), 0.5)))
    assert _mean_of(model, "features.relu_3_3", 7, result.picture) > grey + 0.1
    cached = fvis.find_cached_vis(model, "features.conv_3_3", 7, 64, 16)
    assert cached is not None and cached.cached and np.array_equal(cached.image, result.image)
    assert result.csv().splitlines()[0] == "step,objective" and len(result.csv().splitlines()) == 17


def test_feature_vis_hooks_go_after_an_error_and_a_cancel_saves_nothing() -> None:
    model = get_model("tiny_vgg")

    def boom(step: int, steps: int, image) -> None:
        raise RuntimeError("progress failed")

    with pytest.raises(RuntimeError, match="progress failed"):
        fvis.visualise(model, "features.conv_1_1", 1, size=64, steps=8, progress=boom, every=2)
    assert hook_count(model.module) == 0
    with pytest.raises(um.Cancelled):
        fvis.visualise(model, None, 2, size=64, steps=8, cancel=lambda: True)
    assert fvis.find_cached_vis(model, None, 2, 64, 8) is None and hook_count(model.module) == 0
    for layer, channel, message in (
        ("features.nope", 0, "not a convolution"),
        ("features.conv_1_1", 16, "between 0 and 15"),
    ):
        with pytest.raises(ValueError, match=message):
            fvis.visualise(model, layer, channel, size=64, steps=8)
    with pytest.raises(ValueError, match="class must be between 0 and 5"):
        fvis.visualise(model, None, 6, size=64, steps=8)


@pytest.mark.slow
def test_a_colour_selective_first_layer_channel_wants_its_colour() -> None:
    """Oracle: on a flat colour x, conv_1_1 gives sum_c w_c (x_c - mean_c) / std_c + b, where w_c is the
    kernel summed over space; the image a colour-selective channel wants leans towards w / std."""
    model = get_model("tiny_vgg")
    weight = model.module.features.conv_1_1.weight.detach()
    colour = weight.sum((2, 3)) / torch.tensor(model.transforms.std)
    selectivity = colour.norm(dim=1) / weight.flatten(1).norm(dim=1)
    for channel in selectivity.argsort(descending=True)[:2].tolist():
        result = fvis.visualise(model, "features.conv_1_1", channel, size=64, steps=128)
        mean = torch.tensor(result.image.reshape(-1, 3).mean(axis=0)) - 0.5
        assert torch.nn.functional.cosine_similarity(mean, colour[channel], dim=0) > 0.5, channel


def _spread(mask: np.ndarray) -> float:
    """How far the outline strays from a circle: the spread (std / mean) of the object's largest radius
    from its centroid over 32 directions; 0 for a disc, large for a star's points."""
    ys, xs = np.nonzero(mask)
    dy, dx = ys - ys.mean(), xs - xs.mean()
    bins = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * 32).astype(int) % 32
    radii = np.zeros(32)
    np.maximum.at(radii, bins, np.hypot(dy, dx))
    return float(radii.std() / radii.mean())


@pytest.mark.slow
def test_the_picture_of_a_class_is_that_class_and_has_its_shape() -> None:
    """Oracle: the classroom model calls the picture of a class that class (p > 0.8), and the object in it
    (pixels nearer the object's colour than the background's) has the outline statistic of the class's own
    drawings from core.datasets.shapes: nearer to its class's mean than to the other class's."""
    model = get_model("tiny_vgg")
    own = {name: np.mean([_spread(shapes._mask(name, np.random.default_rng(i), 64) > 0.5) for i in range(30)])
           for name in ("circle", "star")}  # fmt: skip
    background, colour = (np.array(c) for c in vs.SHOWN)
    found = {}
    for name, other in (("circle", "star"), ("star", "circle")):
        category = model.categories.index(name)
        result = fvis.visualise(model, None, category, size=64, steps=128, style="shape")
        assert result.final > result.start and result.image.min() >= 0 and result.image.max() <= 1
        with torch.no_grad():
            probabilities = torch.softmax(model.module(model.to_input(result.picture)), dim=1)[0]
        assert int(probabilities.argmax()) == category and probabilities[category] > 0.8, name
        mask = np.linalg.norm(result.image - background, axis=2) > np.linalg.norm(colour - background) / 2
        assert 0.02 < mask.mean() < 0.3, name  # one object, not the whole picture
        found[name] = _spread(mask)
        assert abs(found[name] - own[name]) < abs(found[name] - own[other]), (name, found, own)
    assert found["circle"] < found["star"]


def test_shape_style_is_an_image_in_range_with_a_penalty_and_unknown_styles_are_refused() -> None:
    param = vs.ShapeImage(96, 0, torch.device("cpu"), work=48)  # drawn at 96 px, seen by the model at 48
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        images, area, penalty = (
            (param(), param.seen(), param.view(generator)),
            float(param.mask().mean()),
            float(param.penalty()),
        )
    for image, side in zip(images, (96, 48, 48), strict=True):
        assert image.shape == (1, 3, side, side) and float(image.min()) >= 0 and float(image.max()) <= 1
    small = torch.nn.functional.interpolate(images[0], size=(48, 48), mode="area")
    assert float((small - images[1]).abs().mean()) < 0.05  # the same object at both sizes
    assert 0 < area < vs.MAX_AREA and penalty >= 0
    with pytest.raises(ValueError, match="style must be one of texture, shape"):
        fvis.visualise(get_model("tiny_vgg"), None, 0, size=64, steps=8, style="cubist")


@pytest.mark.parametrize("shape", [(3, 5, 1, 1), (3, 5, 4, 4), (2, 3, 7, 9), (2, 3, 40, 33)])
def test_each_channel_maximum_equals_numpy_max(shape) -> None:
    maps = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    values, hw = de._channel_maxima(maps)
    assert hw == shape[2:] and values.dtype == torch.float32
    np.testing.assert_array_equal(values.numpy(), maps.flatten(2).numpy().max(axis=2))


def test_locating_stops_the_forward_at_the_layer_and_leaves_no_hook() -> None:
    model = get_model("tiny_vgg")
    ran = []
    handle = model.module.classifier.register_forward_hook(lambda *_: ran.append(1))
    try:
        batch = torch.zeros(2, 3, 64, 64)
        batch[1, :, 5, 9] = 3.0  # one bright pixel: conv_1_1's strongest unit is near it
        where = ul.channel_argmax(model.module, batch, "features.conv_1_1", 0)
    finally:
        handle.remove()
    assert not ran and hook_count(model.module) == 0 and where.shape == (2,)
    with capture_outputs(model.module, ["features.relu_1_1"]) as outputs, torch.no_grad():
        model.module(batch)
    maps = outputs["features.relu_1_1"]
    assert where.tolist() == [int(maps[i, 0].flatten().argmax()) for i in range(2)]
    with pytest.raises(ValueError, match="did not run"):
        ul.channel_argmax(model.module, batch, "no.such.layer", 0)


def test_an_image_gone_since_the_pass_is_left_out(tmp_path) -> None:
    root = make_dataset(tmp_path / "colours", counts={"red": 3, "blue": 3})
    model = get_model("tiny_vgg")
    result = de.dataset_maxima(model, load_image_set(DatasetChoice("colours", root)), 64)
    first, _ = result.top("features.conv_1_1", 0, 1)[0]
    Path(result.paths[first]).unlink()
    examples = ep.channel_examples(model, result, "features.conv_1_1", 0, k=3)
    assert len(examples) == 2 and Path(result.paths[first]).name not in [e.image for e in examples]
    rows = [line.split(",") for line in ul.channel_csv(model, result, "features.conv_1_1", 0).splitlines()[1:]]
    assert [r[3:] for r in rows if r[1].endswith(Path(result.paths[first]).name)] == [["", ""]] and len(rows) == 6
    for path in result.paths[1:] if first == 0 else result.paths:
        Path(path).unlink(missing_ok=True)
    assert ep.channel_examples(model, result, "features.conv_1_1", 0) == ()  # the page then says so


def test_passes_reuse_one_private_view_and_leave_no_hook_on_it(tmp_path) -> None:
    model = get_model("tiny_vgg")
    with de.pass_view(model) as first:
        assert first is not model.module
        with de.pass_view(model) as second:  # another pass while the first runs: its own view
            assert second is not first and second is not model.module
    with de.pass_view(model) as again:
        assert again is first
    root = make_dataset(tmp_path / "colours", counts={"red": 2, "blue": 2})
    de.dataset_maxima(model, load_image_set(DatasetChoice("colours", root)), 64)
    assert hook_count(first) == 0 and hook_count(model.module) == 0
