"""The model zoo: cards and registry, weights on this machine, loading (cached), classify, layer table, charts.

The zoo page and the sidebar import this façade; the other domains import its modules.
Pages call ``models.classify`` (in classification.py) and ``models.layer_table`` (in layers.py).
"""

from core.models.cards import ModelCard
from core.models.charts import topk_figure, zoo_figure
from core.models.classification import Classification, Prediction, classify
from core.models.facts import card_facts, predictions_csv, vocabulary_note
from core.models.layers import LayerRow, layer_table
from core.models.loading import RANDOM_SEED, LoadedModel, get_model, private_view
from core.models.registry import list_models, meta_model, model_card, zoo_cards
from core.models.weights import WeightsLocation, availability, default_key, locate

__all__ = [
    "RANDOM_SEED",
    "Classification",
    "LayerRow",
    "LoadedModel",
    "ModelCard",
    "Prediction",
    "WeightsLocation",
    "availability",
    "card_facts",
    "classify",
    "default_key",
    "get_model",
    "layer_table",
    "list_models",
    "locate",
    "meta_model",
    "model_card",
    "predictions_csv",
    "private_view",
    "topk_figure",
    "vocabulary_note",
    "zoo_cards",
    "zoo_figure",
]
