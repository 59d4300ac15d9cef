"""The model zoo: cards and registry, weights on this machine, loading (cached), classify, layer table, charts.

The zoo page and the sidebar import this façade; the other domains import its modules.
Pages call ``models.classify`` and ``models.layer_table``: the functions (their modules share the names).
"""

from core.models.charts import topk_figure, zoo_figure
from core.models.classify import Classification, Prediction, classify
from core.models.layer_table import LayerRow, layer_table
from core.models.loading import RANDOM_SEED, LoadedModel, get_model, private_view
from core.models.registry import ModelCard, list_models, meta_model, model_card, zoo_cards
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
    "classify",
    "default_key",
    "get_model",
    "layer_table",
    "list_models",
    "locate",
    "meta_model",
    "model_card",
    "private_view",
    "topk_figure",
    "zoo_cards",
    "zoo_figure",
]
