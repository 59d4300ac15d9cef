"""Shipped labels go with the shipped samples only; the user's label files go with any image of that stem."""

from __future__ import annotations

from core.detection import ImageRef, match_labels, shipped_labels


def test_an_upload_named_like_a_sample_gets_no_shipped_labels() -> None:
    shipped = shipped_labels()
    found = match_labels([ImageRef("bus.png", False), ImageRef("zidane.jpg", False), ImageRef("bus.jpg", True)])
    assert found.texts == {"bus.jpg": shipped["bus"]}
    assert found.sources == {"bus.jpg": "bus.txt"}


def test_the_switch_runs_samples_without_their_labels() -> None:
    assert match_labels([ImageRef("bus.jpg", True)], shipped=False).texts == {}


def test_user_label_files_match_any_image_by_stem_and_win() -> None:
    mine = "0 0.5 0.5 0.2 0.2\n"
    found = match_labels(
        [ImageRef("bus.jpg", True), ImageRef("cup.png", False)], {"bus.txt": mine, "cup.txt": mine, "dog.txt": mine}
    )
    assert found.texts == {"bus.jpg": mine, "cup.png": mine}
    assert found.unmatched == ("dog.txt",)
