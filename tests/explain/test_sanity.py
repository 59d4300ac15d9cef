"""Cascading randomisation: the right statistic, the right order, and the shared model never written."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.models import resnet18

from core.explain.sanity import _randomise, cascade_groups, cascading_randomization, similarity_figure, spearman
from core.io.assets import sample_images
from core.models.loading import get_model
from core.util.hooks import hook_count


def test_spearman_matches_scipy_with_ties() -> None:
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, size=(20, 20)), rng.integers(0, 5, size=(20, 20))
    b[:10] = a[:10]  # some agreement, many ties
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel()).statistic, abs=1e-12)
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert np.isnan(spearman(a, np.zeros_like(a)))


def test_groups_go_from_the_output_down_and_cover_every_weighted_layer_once() -> None:
    model = resnet18(weights=None)
    groups = cascade_groups(model, max_steps=8)
    assert [label for label, _ in groups] == ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]
    weighted = [name for name, m in model.named_modules() if name and list(m.parameters(recurse=False))]
    merged = cascade_groups(model, max_steps=3)
    assert [label for label, _ in merged] == ["fc … layer3", "layer2 … layer1", "bn1 … conv1"]
    for grouping in (groups, merged):
        names = [name for _, members in grouping for name in members]
        assert sorted(names) == sorted(weighted) and len(names) == len(weighted)
    with pytest.raises(ValueError, match="max_steps must be at least 1"):
        cascade_groups(model, max_steps=0)


def test_randomise_assigns_new_weights_with_the_old_scale_and_leaves_the_old_tensor_alone() -> None:
    model = resnet18(weights=None).requires_grad_(False)
    old = model.layer4[0].conv1.weight
    before = old.detach().clone()
    _randomise(model, ["layer4.0.conv1"], torch.Generator().manual_seed(0))
    new = model.layer4[0].conv1.weight
    assert new is not old and torch.equal(old, before) and not torch.equal(new, old)
    assert not new.requires_grad
    assert float(new.std()) == pytest.approx(float(old.std()), rel=0.05)
    assert abs(float(new.mean()) - float(old.mean())) < 0.05 * float(old.std())


def test_cascading_randomisation_changes_grad_cam_and_never_writes_the_shared_model() -> None:
    model = get_model("resnet18", pretrained=False)
    image = Image.open(sample_images()["cat"]).convert("RGB").resize((160, 160))
    before = {name: t.detach().clone() for name, t in model.module.state_dict().items()}
    params = list(model.module.parameters())
    check = cascading_randomization(model, image, "grad_cam", 281, "layer4.1", max_steps=4)
    assert [s.label for s in check.stages] == ["fc … layer4", "layer3 … layer2", "layer1 … bn1", "conv1"]
    assert check.stages[-1].layers == 41  # every layer with weights: 20 conv, 20 batch norm, 1 linear
    assert check.original.shape == (224, 224) and check.label == model.categories[281]
    assert check.stages[-1].spearman < 0.5  # a map of the model must change when the model is destroyed
    after = model.module.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    assert list(model.module.parameters()) == params and hook_count(model.module) == 0
    again = cascading_randomization(model, image, "grad_cam", 281, "layer4.1", max_steps=4)
    np.testing.assert_array_equal(again.stages[1].heat, check.stages[1].heat)  # deterministic for a seed
    figure = similarity_figure(check)
    assert list(figure.data[0].y) == [s.spearman for s in check.stages]
