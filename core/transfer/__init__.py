"""Transfer learning: strategies, the training loop, runs on disk, the worker process and its supervisor, results,
and the embedding map of the backbone's features."""

from core.transfer.charts import STRATEGY_COLOURS, class_counts_figure, confusion_figure, curves_figure
from core.transfer.embedding import EmbeddingMap, backbone_map
from core.transfer.embedding_charts import PROJECTIONS, embedding_figure
from core.transfer.results import comparison, confusion, explain, mistakes, overview, trained_module
from core.transfer.store import RunConfig, RunRecord, list_runs, read_run, read_status
from core.transfer.strategies import (
    FEATURE_EXTRACTION,
    FINE_TUNING,
    MAX_EPOCHS,
    SCRATCH,
    STRATEGIES,
    TrainSettings,
    blocks,
    head_name,
)
from core.transfer.supervisor import NotYourRun, RunsDiskFull, cancel_run, may_cancel, owns, start_run

__all__ = [
    "FEATURE_EXTRACTION",
    "FINE_TUNING",
    "MAX_EPOCHS",
    "PROJECTIONS",
    "SCRATCH",
    "STRATEGIES",
    "STRATEGY_COLOURS",
    "EmbeddingMap",
    "NotYourRun",
    "RunConfig",
    "RunRecord",
    "RunsDiskFull",
    "TrainSettings",
    "backbone_map",
    "blocks",
    "cancel_run",
    "class_counts_figure",
    "comparison",
    "confusion",
    "confusion_figure",
    "curves_figure",
    "embedding_figure",
    "explain",
    "head_name",
    "list_runs",
    "may_cancel",
    "mistakes",
    "overview",
    "owns",
    "read_run",
    "read_status",
    "start_run",
    "trained_module",
]
