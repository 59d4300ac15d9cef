"""YOLO models: offline set-up, name and file resolution, loading, refusals, batched inference."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from PIL import Image

from core.config import limits
from core.detection import yolo
from core.detection.boxes import filter_detections, parse_yolo_labels
from core.detection.metrics import evaluate
from core.errors import ImageError, WeightsError, WeightsUnavailable
from core.io.images import load_image
from tests.conftest import ROOT, shared_path
from tests.offline import NO_NETWORK

OPENVINO = ("weights", "yolov8n_int8_openvino_model")


@pytest.fixture(scope="module")
def ultralytics(tmp_path_factory: pytest.TempPathFactory):
    """Ultralytics imported through core.detection.yolo with a temporary home (for its settings file)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CONVLENS_HOME", str(tmp_path_factory.mktemp("yolo_home")))
        return yolo.ultralytics_module()


@pytest.fixture(scope="module")
def coco_model(ultralytics) -> yolo.YoloModel:
    """The real YOLOv8n (OpenVINO INT8), loaded once for the module."""
    return yolo.load_model(shared_path(*OPENVINO), label="yolov8n")


@pytest.fixture(scope="module")
def samples() -> dict[str, Image.Image]:
    return {name: load_image(path) for name, path in yolo.sample_images().items()}


def _kinds(dets, names) -> list[str]:
    return sorted(names[int(c)] for c in dets.classes)


def test_bus_finds_the_bus_and_four_people(coco_model, samples) -> None:
    batch = yolo.detect(coco_model, [samples["bus.jpg"]])
    shown = filter_detections(batch.detections[0], conf=0.25, iou=0.7)
    assert _kinds(shown, coco_model.names) == ["bus", "person", "person", "person", "person"]
    assert shown.scores[0] > 0.85 and batch.sizes == ((810, 1080),)
    # Against the labels shipped for bus.jpg, all five are true positives at IoU 0.5.
    labels = parse_yolo_labels(yolo.shipped_labels()["bus"], coco_model.names)
    assert not labels.issues
    report = evaluate([shown], [labels.to_ground_truth(810, 1080)], coco_model.names, conf=0.25, iou=0.5)
    assert report.images[0].counts == (5, 0, 0)


def test_raw_output_is_permissive_and_a_batch_equals_single_images(coco_model, samples) -> None:
    images = [samples["bus.jpg"], samples["zidane.jpg"]]
    batch = yolo.detect(coco_model, images)
    singles = [yolo.detect(coco_model, [image]).detections[0] for image in images]
    for together, alone in zip(batch.detections, singles, strict=True):
        assert np.allclose(together.boxes, alone.boxes, atol=0.5) and np.allclose(together.scores, alone.scores)
        assert (together.scores >= yolo.RAW_CONF).all() and (np.diff(together.scores) <= 0).all()
    raw = batch.detections[1]
    assert len(raw) > 3 * len(filter_detections(raw, conf=0.25, iou=0.7))  # low-confidence boxes are kept
    assert _kinds(filter_detections(raw, conf=0.5, iou=0.7), coco_model.names) == ["person", "person"]
    assert batch.seconds > 0 and batch.device == "cpu" and not coco_model.half


def test_importing_ultralytics_leaves_pillow_alone(ultralytics) -> None:
    """Ultralytics patches PIL.Image.open to pip-install pi-heif on unreadable files; our yolo module undoes that."""
    assert PIL.Image.open.__module__ == "PIL.Image"
    with pytest.raises(ImageError, match="not an image"):
        load_image(b"plain text, not an image" * 10)


def test_models_are_cached_not_reloaded(coco_model) -> None:
    assert yolo.load_model(shared_path(*OPENVINO)) is coco_model
    assert yolo.MODELS.max_entries == limits.MODEL_CACHE_ENTRIES


def test_too_many_images_are_refused_before_running(coco_model) -> None:
    with pytest.raises(limits.LimitExceeded, match="at most 32"):
        yolo.detect(coco_model, [Image.new("RGB", (32, 32))] * 33)


def test_names_resolve_in_the_weights_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(shared_path("weights")))
    assert yolo.find_model("yolov8n") == shared_path(*OPENVINO)
    assert [(m.path.name, m.format) for m in yolo.local_models()] == [
        ("ball_yolov9t.pt", "PyTorch"),
        ("yolov8n_int8_openvino_model", "OpenVINO"),
    ]
    with pytest.raises(WeightsUnavailable) as missing:
        yolo.find_model("yolo11s")
    message = str(missing.value)
    assert "yolo11s.pt" in message and str(shared_path("weights")) in message and "offline" in message
    with pytest.raises(ValueError, match="Unknown YOLO model 'yolov99'"):
        yolo.find_model("yolov99")


def test_registry_points_at_the_official_release_files() -> None:
    assert set(yolo.YOLO_WEIGHTS) == {"yolov8n", "yolov8s", "yolo11n", "yolo11s"}
    for name, url in yolo.YOLO_WEIGHTS.items():
        assert url.startswith("https://github.com/ultralytics/assets/releases/download/")
        assert url.endswith(f"/{name}.pt")


def test_download_is_refused_offline_without_touching_the_network(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="CONVLENS_OFFLINE"):
        yolo.download_model("yolov8n")
    assert not any(tmp_path.iterdir())


def test_samples_and_their_labels_ship_with_the_app(coco_model) -> None:
    assert set(yolo.sample_images()) == {"bus.jpg", "zidane.jpg"}
    labels = yolo.shipped_labels()
    parsed = {stem: parse_yolo_labels(text, coco_model.names) for stem, text in labels.items()}
    assert {stem: p.classes.tolist() for stem, p in parsed.items()} == {
        "bus": [5, 0, 0, 0, 0],
        "zidane": [0, 0, 27, 27],
    }
    assert not any(p.issues for p in parsed.values())


def test_a_real_pt_checkpoint_loads_and_runs(samples) -> None:
    model = yolo.load_model(shared_path("weights", "ball_yolov9t.pt"))
    assert model.names == {0: "ball"} and model.format == "PyTorch"
    batch = yolo.detect(model, [samples["zidane.jpg"]])
    assert set(batch.detections[0].classes.tolist()) <= {0}


@pytest.fixture(scope="module")
def tiny_pt(ultralytics, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained YOLOv8n built from the yaml in the ultralytics package (no download), saved as .pt."""
    path = tmp_path_factory.mktemp("tiny") / "yolov8n.pt"
    ultralytics.YOLO("yolov8n.yaml").save(path)
    return path


def test_uploaded_pt_is_refused_unless_the_operator_allows_it(tiny_pt: Path, tmp_path: Path, monkeypatch) -> None:
    marker = tmp_path / "code_ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    for data in (pickle.dumps(Payload()), tiny_pt.read_bytes()):
        with pytest.raises(WeightsError, match="CONVLENS_ALLOW_PT_UPLOADS=1"):
            yolo.load_uploaded_pt(data, "upload.pt")
    assert not marker.exists()  # refused unread: the pickle's code never ran
    assert "pickle" in yolo.pt_upload_refusal()

    monkeypatch.setenv("CONVLENS_ALLOW_PT_UPLOADS", "1")
    assert yolo.pt_upload_refusal() is None
    model = yolo.load_uploaded_pt(tiny_pt.read_bytes(), "mine.pt")
    assert model.label == "mine.pt" and len(model.names) == 80
    assert model.path.parent == Path(os.environ["CONVLENS_HOME"]) / "model-uploads"
    with pytest.raises(WeightsError, match="Cannot load"):
        yolo.load_uploaded_pt(b"\x00not a checkpoint" * 100, "junk.pt")


def test_a_name_prefers_the_pt_file_and_bad_files_are_refused(
    ultralytics, tiny_pt: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(tmp_path))
    (tmp_path / "yolov8n.pt").write_bytes(tiny_pt.read_bytes())
    (tmp_path / "yolov8n_openvino_model").mkdir()
    assert yolo.find_model("yolov8n") == tmp_path / "yolov8n.pt"
    assert yolo.detect(yolo.load_model(yolo.find_model("yolov8n")), [Image.new("RGB", (64, 48))]).sizes == ((64, 48),)
    (tmp_path / "random.pt").write_bytes(os.urandom(4096))
    with pytest.raises(WeightsError, match=r"Cannot load random\.pt"):
        yolo.load_model(tmp_path / "random.pt")
    classifier = tmp_path / "cls.pt"
    ultralytics.YOLO("yolov8n-cls.yaml").save(classifier)
    with pytest.raises(WeightsError, match="'classify' model"):
        yolo.load_model(classifier)
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(WeightsError, match="not a YOLO model"):
        yolo.load_model(tmp_path / "notes.txt")


_NO_NETWORK = NO_NETWORK + """
from core.detection import yolo
from core.io.images import load_image
model = yolo.load_model(yolo.find_model("yolov8n"))
batch = yolo.detect(model, [load_image(p) for p in yolo.sample_images().values()])
from ultralytics.utils import SETTINGS
print(json.dumps({"network": network, "commands": commands, "boxes": [len(d) for d in batch.detections],
                  "settings": str(SETTINGS.file), "sync": SETTINGS["sync"]}))
"""


def test_loading_and_predicting_touch_no_network_and_install_nothing(tmp_path: Path) -> None:
    """In a fresh interpreter (Ultralytics imported by core.detection.yolo) with sockets and subprocesses forbidden."""
    weights = shared_path("weights")
    env = {k: v for k, v in os.environ.items() if not k.startswith("YOLO_")}
    env.update(CONVLENS_HOME=str(tmp_path / "home"), CONVLENS_WEIGHTS_DIR=str(weights), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _NO_NETWORK], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["network"] == []
    installers = [c for c in report["commands"] if {"pip", "uv", "install"} & set(c.split())]
    assert installers == [], report["commands"]
    assert all(count > 0 for count in report["boxes"])
    assert report["settings"] == str(tmp_path / "home" / "Ultralytics" / "settings.json") and not report["sync"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home"]  # nothing written in the working directory
