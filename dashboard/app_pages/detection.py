"""YOLO detection: which objects, where and how sure; judged against the truth with every IoU drawn."""

from pathlib import Path

import pandas as pd
import streamlit as st
from PIL import Image

from core import detection, safe_text, serving
from core.config import get_settings
from core.errors import ImageError, WeightsUnavailable
from dashboard import detection_hood, detection_report, exports, presenter, state, ui

QUESTION = "Which boxes are right, which are wrong, and which objects were missed?"
CAMERA_KEY, GT_KEY = "det_camera_data", "det_gt_rows"  # kept per browser on the server

st.title(
    "YOLO detection",
    help="A classifier says *what* is in a picture. A detector says **which objects, where, and how sure**: "
    "a box, a class and a confidence for each, judged against the truth by **IoU**: the area where two boxes "
    "overlap divided by the area they cover together.",
)
with st.sidebar:  # the first screen is for the picture
    state.reset_button("det_")


def model_label() -> str:
    """The chosen detection model's name, for titles of exported pictures."""
    return str(st.session_state.get("det_model") or "YOLO")


def _offer_download(name: str, problem: WeightsUnavailable) -> None:
    st.warning(safe_text.markdown(problem), icon=":material/cloud_off:")
    if not get_settings().offline and st.button(f"Download {name}.pt with Ultralytics", key=f"det_dl_{name}"):
        with st.spinner(f"Downloading {name}.pt..."), ui.user_errors("Downloading the model"):
            detection.download_model(name)
            st.rerun()


def _uploaded_model() -> detection.YoloModel | None:
    refusal = detection.pt_upload_refusal()
    if refusal is not None:
        st.info(refusal, icon=":material/shield:")
        return None
    upload = st.file_uploader("Ultralytics .pt file", type=["pt"], key="det_pt_upload")
    if upload is None:
        return None
    with st.spinner(f"Loading {safe_text.markdown(upload.name)}..."), ui.user_errors("Loading the uploaded model"):
        return detection.load_uploaded_pt(upload.getvalue(), upload.name)
    return None


def choose_model() -> detection.YoloModel | None:
    """The model picker: registered names, files in the weights folder, or an upload."""
    menu = detection.model_menu()
    choice = st.selectbox(
        "Model",
        menu.keys,
        index=menu.keys.index(menu.default),
        key="det_model",
        format_func=lambda key: menu.option(key).label,
        help=f"Models by name are looked up in the weights folder `{get_settings().weights_dir}` first.",
    )
    picked = menu.option(choice)
    if picked.key == detection.UPLOAD:
        return _uploaded_model()
    if picked.missing is not None:
        _offer_download(choice, picked.missing)
        return None
    with st.spinner(f"Loading {safe_text.markdown(picked.path.name)}..."), ui.user_errors("Loading the model"):
        return detection.load_model(picked.path, label=choice)
    return None


def _camera() -> list[tuple[str, bytes]]:
    """A snapshot from the browser's camera, when the camera is switched on."""
    if not st.toggle("Take a photo with the camera", key="det_camera_on"):
        return []
    shot = st.camera_input("Snapshot", key="det_camera")
    if shot is not None and state.kept(CAMERA_KEY) != shot.getvalue():
        state.keep(CAMERA_KEY, shot.getvalue())
    data = state.kept(CAMERA_KEY)
    return [("camera.jpg", data)] if data is not None else []


def choose_images(names: dict[int, str] | None) -> list[tuple[str, bytes, bool]]:
    """Sample images (those made for the model's classes), uploads and the camera snapshot,
    as (unique name, bytes, is a shipped sample)."""
    samples = detection.sample_images(names)
    kind = "shapes" if "shapes_scene_0.png" in samples else "coco"  # a widget per set: the options differ
    picked = st.multiselect("Sample images", list(samples), default=list(samples), key=f"det_samples_{kind}")
    with st.expander("Your own images"):
        uploads = ui.kept_uploads("Your images", key="det_uploads")
    uploads += _camera()
    found, names = [], set()
    for name, data, sample in [(n, samples[n].read_bytes(), True) for n in picked] + [(*u, False) for u in uploads]:
        unique = name
        while unique in names:
            unique = f"{Path(unique).stem}_copy{Path(unique).suffix}"
        names.add(unique)
        found.append((unique, data, sample))
    return found


@st.cache_data(max_entries=16, show_spinner="Running the detector once on every image...")
def detect(_model: detection.YoloModel, model_key: str, images: tuple[bytes, ...]) -> detection.DetectionBatch:
    """The model's raw boxes (cached: the sliders filter them and never re-run the model)."""
    return serving.detect(_model, [ui.decode_image(data) for data in images])


def _issues(title: str, issues: tuple[detection.LabelIssue, ...]) -> None:
    shown = "\n".join(f"- {safe_text.markdown(issue)}" for issue in issues[:10])
    more = f"\n- ... and {len(issues) - 10} more" if len(issues) > 10 else ""
    st.warning(f"{title}: these were skipped, the rest is used.\n{shown}{more}", icon=":material/rule:")


def ground_truth(
    images: list[tuple[str, Image.Image]], names: dict[int, str], samples: set[str]
) -> list[detection.GroundTruth | None]:
    """Ground truth per image (None: unlabelled) from label files and the editable table.

    Shipped labels go with the shipped samples only (``samples``), never with an upload of the same name.
    """
    shipped = st.toggle(
        "Use the shipped labels of the sample images",
        value=True,
        key="det_shipped",
        help="Off: the samples run without ground truth (or with your own label files only).",
    )
    label_files = ui.kept_uploads(
        "YOLO label files (.txt, one `class x_center y_center width height` line per box, in [0, 1])",
        key="det_label_files",
        type=["txt"],
        help="Matched to the images by file name: bus.txt goes with bus.jpg.",
    )
    sized = [detection.Sized(name, name in samples, image.size) for name, image in images]
    table = detection.truth_table(sized, dict(label_files), shipped=shipped, names=names)
    if table.unmatched:
        st.warning(f"No image matches these label files: {safe_text.markdown(', '.join(table.unmatched))}.")
    for error in table.errors:
        st.error(safe_text.markdown(error), icon=":material/error:")
    for source, issues in table.issues:
        _issues(source, issues)
    records = _truth_editor(table, [name for name, _ in images], names)
    found = detection.truths_from_table(records, sized, names, table.labelled)
    for name, issues in found.issues:
        _issues(f"Ground truth of {name}", issues)
    return list(found.truths)


def _truth_editor(table: detection.TruthTable, images: list[str], names: dict[int, str]) -> list[dict]:
    """The table of true boxes to add to, edit or delete from; the user's edits are kept across pages."""
    with st.expander(f"Ground truth: {len(table.rows)} boxes from label files; add, edit or delete boxes here"):
        st.caption(
            "Corners in pixels of the image: (x1, y1) top left, (x2, y2) bottom right. "
            "A new set of label files or images starts a fresh table."
        )
        rows = list(table.rows)
        saved = state.kept(GT_KEY)
        if saved is not None and saved[0] == table.origin:  # the user's edits of this same table, kept across pages
            rows = saved[1]
        start = pd.DataFrame(rows, columns=detection.TRUTH_COLUMNS)
        edited = st.data_editor(
            start,
            num_rows="dynamic",
            key=f"det_gt_{table.origin}_{detection.rows_digest(rows)[:8]}",
            hide_index=True,
            width="stretch",
            column_config={
                "image": st.column_config.SelectboxColumn(options=images, required=True),
                "class": st.column_config.SelectboxColumn(options=list(names.values()), required=True),
                **{c: st.column_config.NumberColumn(min_value=0.0, format="%.1f") for c in detection.TRUTH_COLUMNS[2:]},
            },
        )
    records = edited.to_dict("records")
    if not edited.equals(start):
        state.keep(GT_KEY, (table.origin, records))
    return records


@st.fragment
def results(
    images: list[tuple[str, Image.Image]], batch: detection.DetectionBatch, truths: list[detection.GroundTruth | None]
) -> None:
    """Thresholds, the judged picture, the detections table and the metrics (slider moves rerun only this)."""
    with ui.user_errors("Judging the boxes"):
        _results(images, batch, truths)


def _thresholds(batch: detection.DetectionBatch, truths: list[detection.GroundTruth | None]):
    """The confidence, NMS IoU and match IoU sliders, the classes shown, and the column for the image picker."""
    left, middle, right, classes, which = st.columns([3, 3, 3, 3, 2])
    conf = left.slider(
        "Confidence threshold", 0.01, 1.0, 0.25, 0.01, key="det_conf", on_change=state.changed,
        help="Boxes less sure than this are hidden.",
    )  # fmt: skip
    nms = middle.slider(
        "NMS IoU", 0.1, detection.RAW_IOU, 0.7, 0.05, key="det_nms", on_change=state.changed,
        help="Non-maximum suppression: of two boxes of one class overlapping more than this, the less sure one goes.",
    )  # fmt: skip
    iou = right.slider(
        "IoU for a match", 0.5, 0.95, 0.5, 0.05, key="det_iou", on_change=state.changed,
        help="A box is a true positive from this IoU on.",
    )  # fmt: skip
    present = detection.classes_seen(batch.detections, truths, conf)
    chosen = classes.multiselect(
        "Classes", present, format_func=lambda c: batch.names.get(c, str(c)), key="det_classes",
        placeholder="All classes",
    )  # fmt: skip
    return conf, nms, iou, tuple(chosen), which


def _results(
    images: list[tuple[str, Image.Image]], batch: detection.DetectionBatch, truths: list[detection.GroundTruth | None]
) -> None:
    conf, nms, iou, chosen, which = _thresholds(batch, truths)
    # Everything below depends only on these: judged and drawn once for every session that asks the same.
    shared = (detection.results_key(batch, truths), nms, conf, iou, chosen)
    kept = serving.value(shared[:2], (), lambda: [detection.filter_detections(d, iou=nms) for d in batch.detections])
    report = serving.value(
        shared,
        ("report",),
        lambda: detection.evaluate(kept, truths, batch.names, conf=conf, iou=iou, classes=chosen or None),
    )
    if st.session_state.get("det_image") not in range(len(images)):  # fewer images now, or a bad link
        state.clear("det_image")
    index = 0
    if len(images) > 1:
        index = which.selectbox(
            "Image", range(len(images)), format_func=lambda i: images[i][0], key="det_image", on_change=state.changed
        )
    name, image = images[index]
    result = report.images[index]
    picture, data = exports.shared(
        shared, ("judged", serving.digest(image)), lambda: detection.draw_detections(image, result, batch.names), False
    )
    # At most ~380 px high: the picture stays on a 1366x768 screen under the sliders; the table gets the rest.
    width = "stretch" if presenter.on() else min(700, round(380 * picture.width / picture.height))
    left, right = st.columns([3, 2] if width == "stretch" else [width + 20, max(420, 1000 - width)])
    title = f"{model_label()} on {name}, confidence ≥ {conf:.2f}"
    with left:
        st.image(data, width=width, caption=f"{name} at confidence ≥ {conf:.2f}")
        presenter.notice("detection", "picture")
        st.image(detection.legend(), width="stretch")
        facts = (f"model: {model_label()}", f"image: {name}", f"NMS IoU {nms:.2f}")
        exports.record(exports.Shown(picture, title, facts, None, False, QUESTION))
    with right:
        detection_report.boxes_table(result, batch.names)
        facts = (f"model: {model_label()}", f"image: {name}", f"NMS IoU {nms:.2f}, match IoU {iou:.2f}")
        exports.download(
            exports.Shown(picture, title, facts, None, False, ""),
            f"{Path(name).stem}_judged.png",
            "det_png",
            "Download the picture (PNG)",
        )
    detection_report.metrics_panel(report, shared)


left, right = st.columns(2)
with left:
    model = choose_model()
with right:
    chosen = choose_images(model.names if model is not None else None)
decoded = []
samples = {name for name, _, sample in chosen if sample}
for name, data, _ in chosen:
    with ui.user_errors(f"Reading {name}"):
        try:
            decoded.append((name, data, ui.decode_image(data)))
        except ImageError as exc:
            st.error(
                f"**{safe_text.markdown(name)}** was skipped: {safe_text.markdown(exc)}", icon=":material/broken_image:"
            )
if model is not None and decoded:
    with ui.user_errors("Detection"):
        batch = detect(model, model.cache_key, tuple(data for _, data, _ in decoded))
        images = [(name, image) for name, _, image in decoded]
        shown_first = st.container()  # the picture first, before the facts and the ground-truth table
        st.caption(
            f"{safe_text.markdown(model.label)} ({model.format}) ran once on {len(images)} image(s) "
            f"in {batch.seconds * 1000:.0f} ms "
            f"on {batch.device.upper()}, keeping every box above confidence {detection.RAW_CONF} after NMS at "
            f"IoU {detection.RAW_IOU}. The sliders above filter those boxes without running the model again."
        )
        st.subheader("Ground truth")
        truths = ground_truth(images, batch.names, samples)
        with shown_first:
            results(images, batch, truths)
        detection_hood.section(model, decoded)
elif model is not None:
    st.info("Choose a sample image or upload your own.", icon=":material/image:")
detection_report.iou_explainer()
