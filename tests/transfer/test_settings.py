"""TrainSettings built from a form's values: by keyword, checked field by field, errors naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from core.transfer import TrainSettings

FORM = {
    "epochs": 5,
    "batch_size": 16,
    "image_size": 96,
    "lr": 0.01,
    "backbone_lr_factor": 0.1,
    "fine_tune_blocks": 0,
    "augment": False,
    "seed": 0,
}


def test_a_form_gives_the_settings_field_by_field() -> None:
    settings = TrainSettings.from_form(**FORM | {"fine_tune_blocks": 3, "augment": True, "seed": 7.0})
    assert settings == TrainSettings(
        epochs=5, batch_size=16, image_size=96, lr=0.01, backbone_lr_factor=0.1, unfreeze_blocks=3, augment=True, seed=7
    )
    assert isinstance(settings.seed, int) and isinstance(settings.lr, float)


def test_zero_blocks_fine_tunes_the_whole_network() -> None:
    assert TrainSettings.from_form(**FORM).unfreeze_blocks is None


def test_numpy_numbers_are_numbers() -> None:
    settings = TrainSettings.from_form(**FORM | {"epochs": np.int64(3), "lr": np.float32(0.5)})
    assert settings.epochs == 3 and settings.lr == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 2.5, "epochs must be a whole number, got 2.5"),
        ("epochs", 0, "epochs must be at least 1"),
        ("epochs", 51, "at most 50"),
        ("batch_size", "16", "batch_size must be a finite number, got '16'"),
        ("batch_size", 1, "batch_size must be at least 2"),
        ("image_size", 8, "image_size must be between 16 and 512"),
        ("lr", float("nan"), "lr must be a finite number"),
        ("lr", 2.0, r"lr must be in \(0, 1\]"),
        ("backbone_lr_factor", None, "backbone_lr_factor must be a finite number, got None"),
        ("backbone_lr_factor", 0, "backbone_lr_factor must be in"),
        ("fine_tune_blocks", -1, "fine_tune_blocks must not be negative"),
        ("augment", 1, "augment must be True or False, got 1"),
        ("seed", True, "seed must be a finite number, got True"),
        ("seed", -3, "seed must not be negative"),
    ],
)
def test_a_bad_field_is_named(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainSettings.from_form(**FORM | {field: value})


def test_every_field_must_be_given_by_keyword() -> None:
    with pytest.raises(TypeError):
        TrainSettings.from_form(*FORM.values())  # type: ignore[misc]
    with pytest.raises(TypeError, match="seed"):
        TrainSettings.from_form(**{k: v for k, v in FORM.items() if k != "seed"})
