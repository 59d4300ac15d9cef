"""The detection lab: train YOLO on a YOLO dataset, backbone frozen against fine-tuned, and compare.

It sits above :mod:`core.detection` (datasets, offline Ultralytics training, metrics, pictures)
and :mod:`core.transfer` (whose run store, supervisor and worker frame every kind of run shares),
so a detection run takes a slot of the server-wide cap, belongs to the session that started it
and reports a full disk like a classification run. Its page imports this façade only.
"""

from core.detection.classroom import available as classroom_available
from core.detection.pictures import legend
from core.detection.yolo_data import (
    DetDataset,
    class_counts_rows,
    extract_yolo_zip,
    list_det_datasets,
    load_det_dataset,
    size_summary,
)
from core.detection_lab.results import (
    CONF,
    IOU,
    STRATEGY_COLOURS,
    Comparison,
    compare,
    curves_figure,
    picture,
    preview,
    summary_rows,
)
from core.detection_lab.runs import (
    CLASSROOM,
    DET_STRATEGIES,
    DetRunConfig,
    DetRunRecord,
    list_det_runs,
    pretrained_choices,
    read_det_run,
    start_det_run,
)
from core.transfer.supervisor import NotYourRun, RunsDiskFull, cancel_run, may_cancel, owns

__all__ = [
    "CLASSROOM",
    "CONF",
    "DET_STRATEGIES",
    "IOU",
    "STRATEGY_COLOURS",
    "Comparison",
    "DetDataset",
    "DetRunConfig",
    "DetRunRecord",
    "NotYourRun",
    "RunsDiskFull",
    "cancel_run",
    "class_counts_rows",
    "classroom_available",
    "compare",
    "curves_figure",
    "extract_yolo_zip",
    "legend",
    "list_det_datasets",
    "list_det_runs",
    "load_det_dataset",
    "may_cancel",
    "owns",
    "picture",
    "pretrained_choices",
    "preview",
    "read_det_run",
    "size_summary",
    "start_det_run",
    "summary_rows",
]
