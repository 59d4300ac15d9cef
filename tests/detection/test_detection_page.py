"""The YOLO detection page in AppTest, from the entry file, with the real YOLOv8n (OpenVINO) model."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.detection import yolo, yolo_files
from tests.apptest import open_page, shown, texts
from tests.conftest import shared_path


@pytest.fixture
def offline_kit(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared weights folder as the configured weights folder (it holds yolov8n in OpenVINO INT8)."""
    folder = shared_path("weights")
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(folder))
    return folder


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table(at, column: str):
    """The first table (dataframe or data editor) with ``column``."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_samples_are_detected_judged_and_measured(offline_kit: Path) -> None:
    at = open_page("detection")
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="det_model").value == "yolov8n"
    assert "ran once on 2 image(s)" in texts(at)
    shown = metrics(at)
    assert (shown["TP"], shown["FP"], shown["FN"]) == ("5", "0", "0")  # bus.jpg: the bus and 4 people
    assert shown["Precision"] == "0.889" and shown["Recall"] == "0.889"
    detections = table(at, "verdict")
    assert sorted(detections["class"]) == ["bus", "person", "person", "person", "person"]
    assert set(detections["verdict"]) == {"TP"}
    per_class = table(at, "AP50").set_index("class")
    assert per_class.loc["all", "truth boxes"] == 9 and per_class.loc["tie", "FN"] == 1
    assert 0 < per_class.loc["all", "AP50-95"] < per_class.loc["all", "AP50"] <= 1
    assert {b.proto.label for b in at.get("download_button")} == {
        "Download the picture (PNG)",
        "Download the metrics (CSV)",
    }


def test_sliders_and_filters_never_rerun_the_model(offline_kit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page("detection")
    model = yolo.load_model(yolo_files.find_model("yolov8n"))  # the page's cached model
    calls, real = [], model.model.predict

    def spy(*args, **kwargs):  # counts the calls and still runs the real model
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(model.model, "predict", spy)
    at.slider(key="det_conf").set_value(0.5).run()
    assert metrics(at)["FN"] == "1"  # the half-hidden person on the left (0.36) drops out
    at.slider(key="det_iou").set_value(0.95).run()
    assert (metrics(at)["TP"], metrics(at)["FP"]) == ("3", "1")  # the bus box (IoU 0.88) is not tight enough
    at.slider(key="det_nms").set_value(0.3).run()
    at.multiselect(key="det_classes").set_value([5]).run()
    assert list(table(at, "verdict")["class"]) == ["bus"]
    at.selectbox(key="det_image").set_value(1).run()
    assert not at.exception and not at.error
    assert calls == []


def test_missing_model_offline_names_the_file_and_the_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CONVLENS_WEIGHTS_DIR", str(tmp_path))
    at = open_page("detection")
    assert at.selectbox(key="det_model").value == "convlens-shapes" and not at.error  # shipped: no download needed
    at.selectbox(key="det_model").set_value("yolov8n").run()
    warning = shown(w.value for w in at.warning)
    assert "yolov8n.pt" in warning and str(tmp_path) in warning and "offline" in warning
    assert [b.key for b in at.button] == ["det_reset"]  # no download button offline
    assert not at.error and metrics(at)["IoU"] == "0.200"  # the IoU explainer still works


def test_pt_upload_is_refused_with_the_reason(offline_kit: Path) -> None:
    at = open_page("detection")
    at.selectbox(key="det_model").set_value("upload").run()
    refusal = shown(i.value for i in at.info)
    assert "pickle" in refusal and "CONVLENS_ALLOW_PT_UPLOADS=1" in refusal
    assert not at.get("file_uploader") or all(u.label != "Ultralytics .pt file" for u in at.get("file_uploader"))


def test_bad_label_lines_are_listed_and_the_rest_is_used(offline_kit: Path) -> None:
    at = open_page("detection")
    labels = "5 0.5 0.44 0.98 0.46\n0 0.5 0.5 0.2\n0 nan 0.5 0.2 0.4\n99 0.5 0.5 0.1 0.1\n0 1.5 0.5 0.1 0.1\n"
    at.file_uploader(key="det_label_files_0").set_value(("bus.txt", labels.encode(), "text/plain")).run()
    warning = shown(w.value for w in at.warning)
    assert "bus.txt" in warning
    for line in ("line 2: expected 5 values", "line 3: coordinates must be finite", "line 4: class id 99 is unknown"):
        assert line in warning
    assert "line 5: coordinates must be normalised" in warning
    assert (metrics(at)["TP"], metrics(at)["FP"]) == ("1", "4")  # only the bus is labelled now


def test_uploads_bad_image_message_and_unlabelled_image(offline_kit: Path) -> None:
    at = open_page("detection")
    rocket = shared_path("images", "rocket.jpg").read_bytes()
    at.file_uploader(key="det_uploads_0").set_value(
        [("notes.jpg", b"not an image at all" * 20, "image/jpeg"), ("rocket.jpg", rocket, "image/jpeg")]
    ).run()
    assert any("notes.jpg** was skipped" in shown([e.value]) and "not an image" in e.value for e in at.error)
    assert "ran once on 3 image(s)" in texts(at)
    at.selectbox(key="det_image").set_value(2).run()
    assert "No ground truth for this image" in texts(at)
    assert set(table(at, "verdict")["verdict"]) <= {"-"}


def test_uploads_survive_a_page_switch_until_forgotten(offline_kit: Path) -> None:
    at = open_page("detection")
    rocket = shared_path("images", "rocket.jpg").read_bytes()
    at.file_uploader(key="det_uploads_0").set_value([("rocket.jpg", rocket, "image/jpeg")]).run()
    assert "ran once on 3 image(s)" in texts(at)
    at.switch_page("app_pages/zoo.py").run()
    at.switch_page("app_pages/detection.py").run()
    assert not at.exception and "ran once on 3 image(s)" in texts(at)
    at.button(key="det_uploads_forget").click().run()
    assert "ran once on 2 image(s)" in texts(at)


def test_ground_truth_edits_change_the_verdicts(offline_kit: Path) -> None:
    at = open_page("detection")
    editor = at.data_editor[0]
    table = editor.value
    missed_tie = int(table.index[(table["image"] == "zidane.jpg") & (table["x1"] == 988)][0])
    at.session_state[editor.key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [missed_tie]}
    at.run()
    at.selectbox(key="det_image").set_value(1).run()
    assert (metrics(at)["TP"], metrics(at)["FN"]) == ("3", "0")


def test_iou_explainer_shows_the_arithmetic() -> None:
    at = open_page("detection")
    at.slider(key="det_a_x").set_value((0, 10)).run()
    at.slider(key="det_a_y").set_value((0, 10)).run()
    at.slider(key="det_b_x").set_value((5, 15)).run()
    at.slider(key="det_b_y").set_value((0, 10)).run()
    assert metrics(at)["IoU"] == "0.333"
    assert "Union = A + B − intersection = 100 + 100 − 50 = **150**" in texts(at)
    at.slider(key="det_b_x").set_value((10, 20)).run()  # touching: no overlap
    assert metrics(at)["IoU"] == "0.000" and "do not overlap" in texts(at)


def test_a_file_from_the_weights_folder_can_be_picked(offline_kit: Path) -> None:
    at = open_page("detection")
    at.selectbox(key="det_model").set_value("ball_yolov9t.pt").run()
    assert not at.exception and not at.error
    assert "ball_yolov9t.pt (PyTorch) ran once on 2 image(s)" in texts(at)
    warning = shown(w.value for w in at.warning)  # the COCO labels do not fit a one-class model
    assert "line 1: class id 5 is unknown to the model (it knows 1 classes)" in warning


def test_settings_and_table_edits_survive_a_page_switch_and_reset(offline_kit: Path) -> None:
    at = open_page("detection")
    editor = at.data_editor[0]
    missed_tie = int(editor.value.index[(editor.value["image"] == "zidane.jpg") & (editor.value["x1"] == 988)][0])
    at.session_state[editor.key] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [missed_tie]}
    at.run()
    at.slider(key="det_conf").set_value(0.3).run()
    at.selectbox(key="det_image").set_value(1).run()
    before = metrics(at)
    at.switch_page("app_pages/zoo.py").run()
    at.run()
    at.switch_page("app_pages/detection.py").run()
    assert (at.slider(key="det_conf").value, at.selectbox(key="det_image").value) == (0.3, 1)
    assert metrics(at) == before and len(at.data_editor[0].value) == len(editor.value) - 1  # the edit is kept
    assert (at.query_params["conf"], at.query_params["det_image"]) == ("0.3", "1")
    at.button(key="det_reset").click().run()
    assert at.slider(key="det_conf").value == 0.25 and len(at.data_editor[0].value) == len(editor.value)


def test_my_photo_named_like_a_sample_is_not_judged_by_the_shipped_labels(offline_kit: Path) -> None:
    at = open_page("detection")
    at.multiselect(key="det_samples_coco").set_value([]).run()
    coffee = shared_path("images", "rocket.jpg").read_bytes()
    at.file_uploader(key="det_uploads_0").set_value([("bus.jpg", coffee, "image/jpeg")]).run()
    assert "ran once on 1 image(s)" in texts(at)
    assert "No ground truth for this image" in texts(at) and "FN" not in metrics(at)
    at.multiselect(key="det_samples_coco").set_value(["bus.jpg"]).run()  # the real sample: judged; the upload is a copy
    at.toggle(key="det_shipped").set_value(False).run()  # the switch: samples without their labels
    assert "Add ground truth" in texts(at)


def _judged(at) -> str:
    """The judged picture (its media URL: the same bytes give the same URL)."""
    return next(i.value for i in at.image if i.captions and " at confidence ≥ " in i.captions[0])


def test_two_sessions_judging_the_same_boxes_draw_the_picture_once(offline_kit: Path) -> None:
    from core.serving.pictures import PICTURES

    PICTURES.clear()
    first = open_page("detection")
    drawn = PICTURES.stats()["misses"]
    assert drawn >= 1
    second = open_page("detection")
    assert PICTURES.stats()["misses"] == drawn and _judged(second) == _judged(first)  # drawn for the first only
    second.slider(key="det_conf").set_value(0.5).run()
    assert PICTURES.stats()["misses"] == drawn + 1 and _judged(second) != _judged(first)  # another threshold
    first.slider(key="det_conf").set_value(0.5).run()
    assert PICTURES.stats()["misses"] == drawn + 1 and _judged(first) == _judged(second)
