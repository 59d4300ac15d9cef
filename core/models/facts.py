"""A model's card in one line of facts, and what a model with few classes cannot say."""

from __future__ import annotations

from core import safe_text
from core.models.cards import ModelCard
from core.models.classification import Classification
from core.viz import untrained_csv

FEW_CLASSES = 50  # fewer than this: say which classes the model knows whenever it sees a photo


def _size(card: ModelCard) -> str:
    if not card.file_mb:
        return ""
    return f"{card.file_mb:.0f} MB" if card.file_mb >= 1 else f"{card.file_mb * 1024:.0f} KB"


def card_facts(card: ModelCard, trained: bool) -> str:
    """E.g. ``11.7 M parameters · 1.81 GFLOPs · top-1 69.8 %, top-5 89.1 % · 45 MB of weights``.

    With random weights the accuracy is marked "published, for the pretrained weights": it is
    not what the model on screen scores.
    """
    params = f"{card.params / 1e6:.1f} M" if card.params >= 1e5 else f"{card.params / 1e3:.1f} k"
    parts = [f"{params} parameters"]
    if card.gflops:
        parts.append(f"{card.gflops:.3g} GFLOPs")
    if card.top1:
        accuracy = f"top-1 {card.top1:.1f} %" + (f", top-5 {card.top5:.1f} %" if card.top5 else "")
        where = f"{card.dataset}, published"
        if not trained:
            where += ", for the pretrained weights, not these random ones"
        parts.append(f"{accuracy} ({where})")
    if size := _size(card):
        parts.append(f"{size} of weights")
    return " · ".join(parts)


def vocabulary_note(card: ModelCard, image_name: str) -> str | None:
    """For a model that knows only a few classes, shown something that is not one of them: say what it knows.

    ``image_name`` is the image's caption; a sample named after one of the classes needs no note.
    Returns Markdown (class names escaped) or None.
    """
    if len(card.categories) >= FEW_CLASSES:
        return None
    lowered = image_name.lower()
    if any(name.lower() in lowered for name in card.categories) and "shape" in lowered:
        return None
    known = safe_text.markdown(", ".join(card.categories))
    return (
        f"This model only knows: {known}. It must answer with one of these {len(card.categories)} classes, "
        "whatever the picture shows."
    )


def predictions_csv(result: Classification) -> str:
    """The top-k as CSV (rank, class, probability); with random weights, a first line says so."""
    rows = ["rank,class,probability"] + [
        f'{rank},"{str(safe_text.csv_cell(p.label)).replace(chr(34), chr(34) * 2)}",{p.probability:.6f}'
        for rank, p in enumerate(result.top, 1)
    ]
    return untrained_csv("\n".join(rows) + "\n", untrained=not result.trained)
