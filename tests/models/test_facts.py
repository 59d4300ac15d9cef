"""A card's facts in one line; the note for a model that knows only a few classes; zoo chart labels."""

import math

from core import models
from core.models.charts import _overlap, label_box, label_positions
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


def test_no_zoo_label_covers_another_label_or_a_bubble() -> None:
    cards = models.zoo_cards()
    rated = [(c.key, c.gflops, c.top1, c.label) for c in cards if c.top1 and c.gflops and c.dataset == "ImageNet-1K"]
    assert len(rated) >= 10
    places = label_positions(rated)
    boxes = {key: label_box(places[key], x, y, text) for key, x, y, text in rated}
    for key, box in boxes.items():
        for other, other_box in boxes.items():
            assert key == other or not _overlap(box, other_box), (key, other)
        for other, x, y, _ in rated:  # nor a bubble's centre
            inside = box[0] <= math.log10(x) <= box[2] and box[1] <= y <= box[3]
            assert other == key or not inside, (key, other)
    # Two labels at one spot cannot both sit on top.
    crowded = label_positions([("a", 1.0, 70.0, "Alpha"), ("b", 1.05, 70.5, "Beta")])
    assert crowded["a"] != crowded["b"]


def test_predictions_csv_says_untrained_and_quotes_hostile_labels() -> None:
    import csv
    import io

    from core.models import Classification, Prediction, predictions_csv

    top = (Prediction(3, '=HYPERLINK("x"), "a"', 0.75), Prediction(1, "cat", 0.25))
    trained = predictions_csv(Classification("M", True, top, 1.0, "cpu", (1, 3, 8, 8)))
    rows = list(csv.reader(io.StringIO(trained)))
    assert rows == [
        ["rank", "class", "probability"],
        ["1", '\'=HYPERLINK("x"), "a"', "0.750000"],
        ["2", "cat", "0.250000"],
    ]
    untrained = predictions_csv(Classification("M", False, top, 1.0, "cpu", (1, 3, 8, 8)))
    assert untrained.startswith("# UNTRAINED") and untrained.endswith(trained)
