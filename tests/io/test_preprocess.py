"""Every path to "the crop the model sees" gives the model's own torchvision preset, to 1e-6."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from core.explain.target_layers import model_view
from core.features.capture import model_input
from core.io.assets import sample_images
from core.io.images import load_image
from core.io.preprocess import Preprocess
from core.models.loading import LoadedModel
from core.models.registry import entry, list_models, model_card


def _one_per_family() -> list[str]:
    families: dict[str, str] = {}
    for key in list_models():
        families.setdefault(model_card(key).family, key)
    return list(families.values())


FAMILIES = _one_per_family()


@pytest.fixture(scope="module")
def photo_path():
    return sample_images()["coffee"]  # 4:3, not square: the shorter-side resize and the crop both matter


def loaded(key: str) -> LoadedModel:
    """The zoo entry's real preset in a LoadedModel; preprocessing never touches the module."""
    return LoadedModel(key, model_card(key), nn.Identity(), False, "test", torch.device("cpu"), entry(key).transforms())


@pytest.mark.parametrize("key", FAMILIES)
def test_every_path_gives_the_preset(key: str, photo_path) -> None:
    preset = entry(key).transforms()
    image = load_image(photo_path)
    expected = preset(image)[None]
    model = loaded(key)
    prep = Preprocess.for_model(preset)
    paths = {
        "LoadedModel.to_input (attribution)": model.to_input(image),
        "features.model_input (capture)": model_input(model, image)[0],
        "datasets decode + batch (training loop, embedding)": prep.batch(prep.decode(photo_path)[None]),
        "model_view (pictures under the maps)": prep.normalise(TF.pil_to_tensor(model_view(model, image))[None]),
    }
    for name, got in paths.items():
        assert got.shape == expected.shape, name
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0, msg=name)


def test_efficientnet_keeps_its_bicubic_resize() -> None:
    keys = [k for k in list_models() if model_card(k).family.startswith("EfficientNet")]
    assert keys, "the zoo has an EfficientNet"
    for key in keys:
        prep = Preprocess.for_model(entry(key).transforms(), 112)
        assert prep.interpolation == InterpolationMode.BICUBIC, key


def test_another_input_size_keeps_the_ratio(photo_path) -> None:
    preset = entry(FAMILIES[0]).transforms()
    prep = Preprocess.for_model(preset, 112)
    assert (prep.size, prep.resize) == (112, round(112 * preset.resize_size[0] / preset.crop_size[0]))
    assert prep.to_input(Image.open(photo_path).convert("RGB")).shape == (1, 3, 112, 112)
    with pytest.raises(ValueError, match="image_size must be at least 16 pixels, got 8"):
        Preprocess.for_model(preset, 8)
