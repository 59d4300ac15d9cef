"""A card's facts in one line; the note for a model that knows only a few classes; zoo chart labels."""

from core import models
from core.models.charts import label_positions
from tests.apptest import shown


def test_random_weights_show_the_published_accuracy_as_published() -> None:
    card = models.model_card("resnet18")
    trained = models.card_facts(card, trained=True)
    assert trained == (
        "11.7 M parameters · 1.81 GFLOPs · top-1 69.8 %, top-5 89.1 % (ImageNet-1K, published) · 45 MB of weights"
    )
    assert "(ImageNet-1K, published, for the pretrained weights, not these random ones)" in models.card_facts(
        card, trained=False
    )


def test_the_shapes_model_says_what_it_knows_when_shown_a_photo() -> None:
    card = models.model_card("tiny_vgg")
    note = models.vocabulary_note(card, "sample: cat")
    assert note is not None and shown([note]).startswith("This model only knows: circle, square, triangle, star, cross")
    assert models.vocabulary_note(card, "sample: shape star") is None
    assert models.vocabulary_note(card, "star.png") is not None  # an upload could be anything
    assert models.vocabulary_note(models.model_card("resnet18"), "sample: cat") is None


def test_close_bubbles_get_different_label_places() -> None:
    places = label_positions([("a", 0.22, 75.0), ("b", 0.30, 75.5), ("c", 0.39, 74.8), ("far", 10.0, 75.0)])
    assert len({places["a"], places["b"], places["c"]}) == 3
    assert places["far"] == "top center"
    cards = models.zoo_cards()
    rated = [(c.key, c.gflops, c.top1) for c in cards if c.top1 and c.gflops and c.dataset == "ImageNet-1K"]
    positions = label_positions(rated)
    for key, x, y in rated:  # no two close bubbles share a place
        for other, ox, oy in rated:
            if key < other and abs(x / ox - 1) < 0.5 and abs(y - oy) < 2.5:
                assert positions[key] != positions[other], (key, other)
