"""Train the classroom detector (YOLOv8n from its yaml on ConvLens detection shapes) and write assets/detector/.

Run from the repository root (about an hour on 2 shared CPU cores; see assets/detector/README.md)::

    .venv/bin/python -m scripts.train_classroom_detector            # train, write assets/detector/
    .venv/bin/python -m scripts.train_classroom_detector --check    # val mAP of the shipped model

Everything (the generated data, Ultralytics' run folder) is written under ``--work`` (a temporary
folder by default); nothing is downloaded. The same seed gives the same data and initial weights.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from bench.common import machine
from core.datasets.shape_scenes import DET_BASE_CLASSES, render_scene, write_yolo_dataset, yolo_lines
from core.detection.classroom import DETECTOR_DIR, METADATA_PATH, OPENVINO_PATH, WEIGHTS_PATH
from core.detection.training import DetEpoch, offline_training, train_yolo
from core.detection.yolo import ultralytics_module

_STAGE_KEYS = ("config", "train_seconds", "val_map50", "val_map50_95", "epochs")
SAMPLES = 3  # generated scenes shipped with their labels for the YOLO page


@dataclass(frozen=True)
class DetectorConfig:
    """Everything that decides the trained weights."""

    seed: int = 0
    train_images: int = 500
    val_images: int = 100
    size: int = 128  # generated image side = training image size
    epochs: int = 25
    batch: int = 8
    model: str = "yolov8n.yaml"
    mosaic: float = 1.0  # Ultralytics' default (turned off for its last 10 epochs)
    warmup_epochs: float = 3.0


def validate(weights: Path, data_yaml: Path, imgsz: int, out: Path) -> tuple[float, float]:
    """Val mAP50 and mAP50-95 of ``weights`` on the val split of ``data_yaml`` (files go under ``out``)."""
    with offline_training():
        model = ultralytics_module().YOLO(str(weights))
        metrics = model.val(
            data=str(data_yaml), imgsz=imgsz, batch=16, device="cpu", workers=0, plots=False,
            project=str(out), name="val", exist_ok=True, verbose=False,
        )  # fmt: skip
    return float(metrics.box.map50), float(metrics.box.map)


def train(config: DetectorConfig, work: Path) -> dict:
    """Generate the data, train, validate the best epoch; returns the metadata."""
    began = time.perf_counter()
    data_yaml = write_yolo_dataset(
        work / "data", DET_BASE_CLASSES, config.train_images, config.val_images, config.seed, config.size
    )
    generated = time.perf_counter()

    def report(epoch: DetEpoch, _last: Path) -> None:
        print(
            f"epoch {epoch.epoch}/{config.epochs}: box {epoch.box_loss:.3f} cls {epoch.cls_loss:.3f} "
            f"mAP50 {epoch.map50:.3f} mAP50-95 {epoch.map50_95:.3f} ({epoch.seconds:.0f} s)",
            flush=True,
        )

    result = train_yolo(
        config.model, data_yaml, work / "runs", epochs=config.epochs, imgsz=config.size, seed=config.seed,
        batch=config.batch, on_epoch=report, extra={"mosaic": config.mosaic, "warmup_epochs": config.warmup_epochs},
    )  # fmt: skip
    map50, map50_95 = validate(result.best, data_yaml, config.size, work / "runs")
    return {
        "classes": list(DET_BASE_CLASSES),
        "image_size": config.size,
        "val_map50": round(map50, 4),
        "val_map50_95": round(map50_95, 4),
        "val_images": config.val_images,
        "epochs": [dataclasses.asdict(e) for e in result.history],
        "generate_seconds": round(generated - began, 1),
        "train_seconds": round(result.seconds, 1),
        "seconds_per_epoch": round(result.seconds / max(len(result.history), 1), 1),
        "threads": torch.get_num_threads(),
        "machine": machine(),
        "config": dataclasses.asdict(config),
        "command": ".venv/bin/python -m scripts.train_classroom_detector",
        "best": str(result.best),
    }


def export(out: Path, size: int, work: Path) -> None:
    """Export the shipped .pt to an fp16 OpenVINO folder (what the YOLO page loads) and write the samples."""
    pt = work / "export" / WEIGHTS_PATH.name
    pt.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / WEIGHTS_PATH.name, pt)
    with offline_training():
        folder = Path(ultralytics_module().YOLO(str(pt)).export(format="openvino", imgsz=size, half=True))
    shutil.rmtree(out / OPENVINO_PATH.name, ignore_errors=True)
    shutil.copytree(folder, out / OPENVINO_PATH.name)
    samples = out / "samples"
    shutil.rmtree(samples, ignore_errors=True)
    samples.mkdir()
    for i in range(SAMPLES):  # scenes of a split the detector never trained or validated on
        scene = render_scene(DET_BASE_CLASSES, 0, "sample", i, size)
        Image.fromarray(scene.image).save(samples / f"shapes_scene_{i}.png")
        (samples / f"shapes_scene_{i}.txt").write_text(yolo_lines(scene, size))


def ship(meta: dict, out: Path, work: Path) -> None:
    """Copy the best weights (stripped of the optimizer by Ultralytics), export them, write the metadata."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(meta.pop("best")), out / WEIGHTS_PATH.name)
    export(out, meta["image_size"], work)
    (out / METADATA_PATH.name).write_text(json.dumps(meta, indent=2) + "\n")


def ship_stopped(work: Path, config: DetectorConfig, out: Path, began: float) -> None:
    """Ship the best epoch of a training that was stopped before its last epoch (e.g. by a deadline)."""
    import csv

    from ultralytics.utils.torch_utils import strip_optimizer

    run = work / "runs" / "train"
    rows = list(csv.DictReader((run / "results.csv").open()))
    best = work / "best_stripped.pt"
    shutil.copyfile(run / "weights" / "best.pt", best)
    strip_optimizer(str(best))
    data_yaml = work / "data" / "data.yaml"
    map50, map50_95 = validate(best, data_yaml, config.size, work / "runs")
    history = [
        {"epoch": int(r["epoch"]), "box_loss": float(r["train/box_loss"]), "cls_loss": float(r["train/cls_loss"]),
         "dfl_loss": float(r["train/dfl_loss"]), "map50": float(r["metrics/mAP50(B)"]),
         "map50_95": float(r["metrics/mAP50-95(B)"]), "seconds": float(r["time"])}
        for r in rows
    ]  # fmt: skip
    previous = json.loads((out / METADATA_PATH.name).read_text())
    meta = {
        "classes": list(DET_BASE_CLASSES), "image_size": config.size, "val_map50": round(map50, 4),
        "val_map50_95": round(map50_95, 4), "val_images": config.val_images, "epochs": history,
        "stopped_after_epoch": len(history), "train_seconds": round(history[-1]["seconds"], 1),
        "seconds_per_epoch": round(history[-1]["seconds"] / len(history), 1), "threads": torch.get_num_threads(),
        "machine": machine(), "config": dataclasses.asdict(config),
        "command": f".venv/bin/python -m scripts.train_classroom_detector --start <stage 1 .pt> --epochs "
        f"{config.epochs}, stopped after epoch {len(history)}, then --stopped <its --work folder>",
        "previous_stage": {k: previous.get(k) for k in _STAGE_KEYS},
        "best": str(best), "shipped_seconds_after_start": round(time.time() - began, 1),
    }  # fmt: skip
    ship(meta, out, work)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DETECTOR_DIR)
    parser.add_argument("--work", type=Path, default=None, help="folder for data and Ultralytics' run (kept)")
    parser.add_argument("--epochs", type=int, default=DetectorConfig.epochs)
    parser.add_argument("--train-images", type=int, default=DetectorConfig.train_images)
    parser.add_argument("--check", action="store_true", help="only validate the shipped model")
    parser.add_argument("--export", action="store_true", help="only export the shipped .pt and write the samples")
    parser.add_argument("--stopped", type=Path, help="ship the best epoch of a stopped run in this --work folder")
    parser.add_argument("--start", type=Path, help="continue from these weights (a .pt) instead of the yaml")
    args = parser.parse_args(argv)
    config = DetectorConfig(epochs=args.epochs, train_images=args.train_images)
    if args.start is not None:
        config = dataclasses.replace(config, model=str(args.start), mosaic=0.0, warmup_epochs=0.0)
    work = args.work or Path(tempfile.mkdtemp(prefix="convlens-detector-"))
    if args.export:
        export(args.out, config.size, work)
        return 0
    if args.stopped is not None:
        ship_stopped(args.stopped, config, args.out, time.time())
        return 0
    if args.check:
        data_yaml = write_yolo_dataset(work / "check", DET_BASE_CLASSES, 1, config.val_images, config.seed, config.size)
        print(validate(args.out / WEIGHTS_PATH.name, data_yaml, config.size, work / "runs"))
        return 0
    previous = json.loads((args.out / METADATA_PATH.name).read_text()) if args.start else None
    meta = train(config, work)
    if previous is not None:  # a later stage: keep the record of every stage before it, nested
        meta["previous_stage"] = {k: previous.get(k) for k in (*_STAGE_KEYS, "previous_stage")}
    ship(meta, args.out, work)
    print(json.dumps({k: v for k, v in meta.items() if k != "epochs"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
