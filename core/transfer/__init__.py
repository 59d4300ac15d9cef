"""Transfer learning: strategies, the training loop, runs on disk, the worker process and its supervisor, results."""

from core.transfer.charts import STRATEGY_COLOURS, class_counts_figure, confusion_figure, curves_figure
from core.transfer.results import comparison, confusion, explain, mistakes, overview, trained_module
from core.transfer.store import RunConfig, RunRecord, list_runs, read_run, read_status
from core.transfer.strategies import (
    FEATURE_EXTRACTION,
    FINE_TUNING,
    MAX_EPOCHS,
    STRATEGIES,
    TrainSettings,
    blocks,
    head_name,
)
from core.transfer.supervisor import cancel_run, start_run

__all__ = [
    "FEATURE_EXTRACTION",
    "FINE_TUNING",
    "MAX_EPOCHS",
    "STRATEGIES",
    "STRATEGY_COLOURS",
    "RunConfig",
    "RunRecord",
    "TrainSettings",
    "blocks",
    "cancel_run",
    "class_counts_figure",
    "comparison",
    "confusion",
    "confusion_figure",
    "curves_figure",
    "explain",
    "head_name",
    "list_runs",
    "mistakes",
    "overview",
    "read_run",
    "read_status",
    "start_run",
    "trained_module",
]
