"""Object detection: boxes and labels, COCO metrics, Ultralytics YOLO (loaded offline), and the pictures.

Inside the detector: its raw candidates, grids and NMS step by step, where it looks for one box
(CAMs over the head's inputs), and the pictures of all that.
"""

from core.detection.box_cams import CAM_METHODS, BoxCam, box_cam, cam_unavailable, peak_inside
from core.detection.boxes import (
    TRUTH_COLUMNS,
    GroundTruth,
    LabelIssue,
    filter_detections,
    ground_truth_from_rows,
    iou_parts,
    parse_yolo_labels,
    truth_rows,
)
from core.detection.candidates import (
    ANCHOR_FREE_NOTE,
    STEP_COLUMNS,
    GridLevel,
    NmsRun,
    NmsStep,
    RawOutput,
    level_heatmaps,
    raw_output,
    run_nms,
    step_rows,
    steps_csv,
)
from core.detection.inside_pictures import cam_picture, candidates_picture, grid_base, grid_picture, nms_picture
from core.detection.labels import ImageRef, LabelMatch, match_labels
from core.detection.metrics import DetectionReport, classes_seen, evaluate
from core.detection.pictures import confusion_figure, draw_detections, iou_arithmetic, iou_picture, legend, pr_figure
from core.detection.report_tables import DETECTION_COLUMNS, class_rows, detection_rows, report_csv
from core.detection.yolo import (
    IMGSZ,
    RAW_CONF,
    RAW_IOU,
    DetectionBatch,
    YoloModel,
    detect,
    load_model,
    load_uploaded_pt,
    pt_upload_refusal,
    sample_images,
    shipped_labels,
)
from core.detection.yolo_files import YOLO_WEIGHTS, ModelFile, download_model, find_model, local_models, model_names

__all__ = [
    "ANCHOR_FREE_NOTE",
    "CAM_METHODS",
    "DETECTION_COLUMNS",
    "IMGSZ",
    "RAW_CONF",
    "RAW_IOU",
    "STEP_COLUMNS",
    "TRUTH_COLUMNS",
    "YOLO_WEIGHTS",
    "BoxCam",
    "DetectionBatch",
    "DetectionReport",
    "GridLevel",
    "GroundTruth",
    "ImageRef",
    "LabelIssue",
    "LabelMatch",
    "ModelFile",
    "NmsRun",
    "NmsStep",
    "RawOutput",
    "YoloModel",
    "box_cam",
    "cam_picture",
    "cam_unavailable",
    "candidates_picture",
    "class_rows",
    "classes_seen",
    "confusion_figure",
    "detect",
    "detection_rows",
    "download_model",
    "draw_detections",
    "evaluate",
    "filter_detections",
    "find_model",
    "grid_base",
    "grid_picture",
    "ground_truth_from_rows",
    "iou_arithmetic",
    "iou_parts",
    "iou_picture",
    "legend",
    "level_heatmaps",
    "load_model",
    "load_uploaded_pt",
    "local_models",
    "match_labels",
    "model_names",
    "nms_picture",
    "parse_yolo_labels",
    "peak_inside",
    "pr_figure",
    "pt_upload_refusal",
    "raw_output",
    "report_csv",
    "run_nms",
    "sample_images",
    "shipped_labels",
    "step_rows",
    "steps_csv",
    "truth_rows",
]
