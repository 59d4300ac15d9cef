"""Grad-CAM beside the other methods (one Attribution), a shared colour scale for the top-3, the sanity verdict."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import LayerGradCam

from core.explain import from_grad_cam, grad_cams, layer_words, scale_maps, shared_scale, verdict
from core.explain.sanity import HARDLY_CHANGED, PARTLY_CHANGED, SanityCheck, Stage
from core.io.assets import sample_images
from core.io.images import load_image
from core.models.classification import classify
from core.models.classroom import KEY as CLASSROOM
from core.models.loading import get_model
from core.serving import inference as serving


@pytest.fixture(scope="module")
def shapes():
    model = get_model(CLASSROOM, pretrained=False)
    image = load_image(sample_images()["cat"])
    top = [p.index for p in classify(model, image, k=3).top]
    return model, image, top


def test_shared_scale_divides_every_map_by_one_maximum() -> None:
    maps = np.array([[[0.0, 2.0], [1.0, 4.0]], [[0.5, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    scaled = shared_scale(maps)
    np.testing.assert_allclose(scaled[0], [[0.0, 0.5], [0.25, 1.0]])
    np.testing.assert_allclose(scaled[1], [[0.125, 0.25], [0.0, 0.0]])  # faint stays faint
    np.testing.assert_array_equal(scaled[2], 0.0)
    np.testing.assert_array_equal(shared_scale(np.zeros((3, 2, 2))), 0.0)  # no evidence at all: no division by 0


def test_top3_on_one_scale_against_captum_and_each_on_its_own(shapes) -> None:
    model, image, top = shapes
    result = grad_cams(model, image, top)  # at the default layer, the last conv block
    maps = result.layers[0]
    sub = dict(model.module.named_modules())[maps.layer]
    batch = model.to_input(image)
    oracle = torch.cat(
        [LayerGradCam(model.module, sub).attribute(batch, target=t, relu_attributions=True) for t in top]
    )[:, 0].detach()  # Captum, one class at a time: the raw maps at the layer's resolution
    peak = float(oracle.max())
    shared = scale_maps(maps, shared=True)
    np.testing.assert_allclose(shared.coarse, (oracle / peak).numpy(), atol=1e-5)
    full = F.interpolate(oracle[:, None], size=batch.shape[-2:], mode="bilinear", align_corners=False)[:, 0] / peak
    np.testing.assert_allclose(shared.maps, full.numpy(), atol=1e-5)
    assert shared.coarse.max() == pytest.approx(1.0) and shared.shared
    assert [float(m.max()) for m in shared.coarse] == pytest.approx([float(m.max()) / peak for m in oracle], abs=1e-5)
    own = scale_maps(maps, shared=False)
    np.testing.assert_array_equal(own.maps, maps.maps) and np.testing.assert_array_equal(own.coarse, maps.coarse)
    assert "one scale" in shared.ends[1] and "own scale" in own.ends[1]
    assert "share one colour scale" in shared.note and "own maximum" in own.note


def test_grad_cam_is_an_attribution_like_the_others_and_shares_the_batched_pass(shapes) -> None:
    model, image, top = shapes
    serving.GRADCAMS.clear()
    serving.ATTRIBUTIONS.clear()
    layer = grad_cams(model, image, top[:1]).layers[0].layer
    result = serving.attribute(model, image, "grad_cam", top[0], layer)
    alone = grad_cams(model, image, top[:1], [layer])
    np.testing.assert_array_equal(result.heat, alone.layers[0].maps[0])
    np.testing.assert_array_equal(result.coarse, alone.layers[0].coarse[0])
    assert result.probability == pytest.approx(alone.probabilities[0], rel=1e-5)
    where = layer_words(CLASSROOM, layer)
    assert where == "the last conv block"
    assert result.title(where) == f"Grad-CAM of {alone.labels[0]} ({alone.probabilities[0]:.1%}) at the last conv block"
    hits = serving.GRADCAMS.stats()["hits"]
    assert serving.explain(model, image, (top[0],), (layer,)) is not None
    assert serving.GRADCAMS.stats()["hits"] == hits + 1  # the same shared result as the top-3 and depth views
    saliency = serving.attribute(model, image, "saliency", top[0], layer)
    assert saliency.coarse is None and saliency.title(where) == f"Saliency (gradient) of {alone.labels[0]}"
    assert serving.attribute(model, image, "saliency", top[0], layer) is saliency  # shared by every session
    with pytest.raises(ValueError, match="one class at one layer"):
        from_grad_cam(grad_cams(model, image, top[:2]))


def _check(final: float) -> SanityCheck:
    zero = np.zeros((2, 2))
    return SanityCheck("grad_cam", 0, "cat", "x", zero, (Stage("fc", 1, zero, 0.99), Stage("conv1", 2, zero, final)))


@pytest.mark.parametrize(
    ("final", "said"),
    [
        (HARDLY_CHANGED, "hardly changed"),
        (0.95, "hardly changed"),
        (HARDLY_CHANGED - 0.01, "changed only in part"),
        (PARTLY_CHANGED, "changed only in part"),
        (PARTLY_CHANGED - 0.01, "changed completely"),
        (-0.4, "changed completely"),
        (float("nan"), "the map is flat"),
    ],
)
def test_the_sanity_verdict_reads_the_last_correlation(final: float, said: str) -> None:
    text = verdict(_check(final))
    assert said in text and text.startswith("After randomising every layer")
    assert ("Spearman" in text) != np.isnan(final)
    assert "untrained" not in text and "untrained" in verdict(_check(final), trained=False)
