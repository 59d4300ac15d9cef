"""YOLO detection: which objects, where and how sure; judged against the truth with every IoU drawn."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from core import detection, safe_text, serving
from core.config import get_settings
from core.errors import ImageError, WeightsUnavailable
from dashboard import detection_hood, exports, presenter, state, ui

UPLOAD = "upload"
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


def _model_label(option: str, ready: dict[str, Path], files: dict[str, detection.ModelFile]) -> str:
    if option == UPLOAD:
        return "Upload a .pt file"
    if option in files:
        return f"{files[option].label} · weights folder"
    return f"{option} · {ready[option].name}" if option in ready else f"{option} · not on this machine"


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
    ready, missing = {}, {}
    for name in detection.model_names():
        try:
            ready[name] = detection.find_model(name)
        except WeightsUnavailable as exc:  # explained when picked
            missing[name] = exc
    files = {m.path.name: m for m in detection.local_models() if m.path not in ready.values()}
    options = [*detection.model_names(), *files, UPLOAD]
    default = next(iter(ready), next(iter(files), next(iter(detection.YOLO_WEIGHTS))))
    choice = st.selectbox(
        "Model",
        options,
        index=options.index(default),
        key="det_model",
        format_func=lambda option: _model_label(option, ready, files),
        help=f"Models by name are looked up in the weights folder `{get_settings().weights_dir}` first.",
    )
    if choice == UPLOAD:
        return _uploaded_model()
    if choice in missing:
        _offer_download(choice, missing[choice])
        return None
    path = ready[choice] if choice in ready else files[choice].path
    with st.spinner(f"Loading {safe_text.markdown(path.name)}..."), ui.user_errors("Loading the model"):
        return detection.load_model(path, label=choice)
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
    found = detection.match_labels(
        [detection.ImageRef(n, n in samples) for n, _ in images],
        {name: data.decode("utf-8-sig", errors="replace") for name, data in label_files},
        shipped=shipped,
        names=names,
    )
    texts = found.texts
    if found.unmatched:
        st.warning(f"No image matches these label files: {safe_text.markdown(', '.join(found.unmatched))}.")
    rows = []
    for name, image in images:
        if name in texts:
            source = found.sources[name]
            with ui.user_errors(f"Reading {source}"):
                labels = detection.parse_yolo_labels(texts[name], names, source=source)
                if labels.issues:
                    _issues(source, labels.issues)
                rows += detection.truth_rows(name, labels.to_ground_truth(*image.size), names)
    with st.expander(f"Ground truth: {len(rows)} boxes from label files; add, edit or delete boxes here"):
        st.caption(
            "Corners in pixels of the image: (x1, y1) top left, (x2, y2) bottom right. "
            "A new set of label files or images starts a fresh table."
        )
        table = pd.DataFrame(rows, columns=detection.TRUTH_COLUMNS)
        origin = hashlib.sha1((table.to_json() + "|".join(n for n, _ in images)).encode()).hexdigest()[:12]
        saved = state.kept(GT_KEY)
        if saved is not None and saved[0] == origin:  # the user's edits of this same table, kept across pages
            table = pd.DataFrame(saved[1], columns=detection.TRUTH_COLUMNS)
        edited = st.data_editor(
            table,
            num_rows="dynamic",
            key=f"det_gt_{origin}_{hashlib.sha1(table.to_json().encode()).hexdigest()[:8]}",
            hide_index=True,
            width="stretch",
            column_config={
                "image": st.column_config.SelectboxColumn(options=[n for n, _ in images], required=True),
                "class": st.column_config.SelectboxColumn(options=list(names.values()), required=True),
                **{c: st.column_config.NumberColumn(min_value=0.0, format="%.1f") for c in detection.TRUTH_COLUMNS[2:]},
            },
        )
    records = edited.to_dict("records")
    if not edited.equals(table):
        state.keep(GT_KEY, (origin, records))
    truths: list[detection.GroundTruth | None] = []
    for name, image in images:
        mine = [r for r in records if r["image"] == name]
        truth, issues = detection.ground_truth_from_rows(mine, names, *image.size)
        if issues:
            _issues(f"Ground truth of {name}", issues)
        truths.append(truth if mine or name in texts else None)
    return truths


def metrics_panel(report: detection.DetectionReport, shared: tuple) -> None:
    """Precision, recall, F1, AP per class, the PR curve and the confusion matrix."""
    st.subheader("How good are the boxes?")
    if not report.judged:
        st.info("Add ground truth (label files or the table above) to judge the boxes.", icon=":material/rule:")
        return
    total = report.total
    cols = st.columns(5)
    for col, (label, value, help_text) in zip(
        cols,
        (
            ("Precision", total.precision, "Of the boxes shown, the share that are right (TP / (TP + FP))."),
            ("Recall", total.recall, "Of the true objects, the share that were found (TP / (TP + FN))."),
            ("F1", total.f1, "The harmonic mean of precision and recall."),
            ("mAP50", total.ap50, "Area under the PR curve at IoU 0.5, averaged over classes (COCO, 101 points)."),
            ("mAP50-95", total.ap50_95, "The same averaged over IoU 0.50, 0.55, ... 0.95: rewards tight boxes."),
        ),
        strict=True,
    ):
        col.metric(label, "–" if value is None else f"{value:.3f}", help=help_text)
    st.caption(
        f"Over {report.judged} labelled image(s), at confidence ≥ {report.conf:.2f} and IoU ≥ {report.iou:.2f}. "
        "AP sweeps the confidence itself, so it does not depend on the confidence slider."
    )
    scores = ("precision", "recall", "F1", "AP50", "AP50-95")
    st.dataframe(
        detection.class_rows(report),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in scores},
    )
    left, right = st.columns(2)
    with left:
        pr = serving.value(shared, ("pr",), lambda: detection.pr_figure(report.curves, report.iou))
        st.plotly_chart(pr, width="stretch", key="det_pr")
        st.caption(
            "Precision against recall as the confidence threshold goes down; the dot is the current threshold. "
            "The area under each curve is that class's AP."
        )
    with right:
        confusion = serving.value(shared, ("confusion",), lambda: detection.confusion_figure(report.confusion))
        st.plotly_chart(confusion, width="stretch", key="det_confusion")
        st.caption(
            "Each true box against what it was detected as. The background row holds false positives; "
            "the background column holds missed objects."
        )
    st.download_button(
        "Download the metrics (CSV)",
        detection.report_csv(report),
        file_name="detection_metrics.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="det_csv",
    )


@st.fragment
def results(
    images: list[tuple[str, Image.Image]], batch: detection.DetectionBatch, truths: list[detection.GroundTruth | None]
) -> None:
    """Thresholds, the judged picture, the detections table and the metrics (slider moves rerun only this)."""
    with ui.user_errors("Judging the boxes"):
        _results(images, batch, truths)


def _results(
    images: list[tuple[str, Image.Image]], batch: detection.DetectionBatch, truths: list[detection.GroundTruth | None]
) -> None:
    names = batch.names
    left, middle, right, classes, which = st.columns([3, 3, 3, 3, 2])
    conf = left.slider(
        "Confidence threshold",
        0.01,
        1.0,
        0.25,
        0.01,
        key="det_conf",
        on_change=state.changed,
        help="Boxes less sure than this are hidden.",
    )
    nms = middle.slider(
        "NMS IoU",
        0.1,
        detection.RAW_IOU,
        0.7,
        0.05,
        key="det_nms",
        on_change=state.changed,
        help="Non-maximum suppression: of two boxes of one class overlapping more than this, the less sure one goes.",
    )
    iou = right.slider(
        "IoU for a match",
        0.5,
        0.95,
        0.5,
        0.05,
        key="det_iou",
        on_change=state.changed,
        help="A box is a true positive from this IoU on.",
    )
    present = detection.classes_seen(batch.detections, truths, conf)
    chosen = classes.multiselect(
        "Classes", present, format_func=lambda c: names.get(c, str(c)), key="det_classes", placeholder="All classes"
    )
    # Everything below depends only on these: judged and drawn once for every session that asks the same.
    shared = (_fingerprint(batch, truths), nms, conf, iou, tuple(chosen))
    kept = serving.value(shared[:2], (), lambda: [detection.filter_detections(d, iou=nms) for d in batch.detections])
    report = serving.value(
        shared,
        ("report",),
        lambda: detection.evaluate(kept, truths, names, conf=conf, iou=iou, classes=chosen or None),
    )

    index = 0
    if st.session_state.get("det_image") not in range(len(images)):  # fewer images now, or a bad link
        state.clear("det_image")
    if len(images) > 1:
        index = which.selectbox(
            "Image", range(len(images)), format_func=lambda i: images[i][0], key="det_image", on_change=state.changed
        )
    name, image = images[index]
    result = report.images[index]
    picture = detection.draw_detections(image, result, names)
    # At most ~380 px high: the picture stays on a 1366x768 screen under the sliders; the table gets the rest.
    shown = "stretch" if presenter.on() else min(700, round(380 * picture.width / picture.height))
    left, right = st.columns([3, 2] if shown == "stretch" else [shown + 20, max(420, 1000 - shown)])
    with left:
        st.image(picture, width=shown, output_format="JPEG", caption=f"{name} at confidence ≥ {conf:.2f}")
        presenter.notice("detection", "picture")
        st.image(detection.legend(), width="stretch")
        exports.record(
            exports.Shown(
                picture,
                f"{model_label()} on {name}, confidence ≥ {conf:.2f}",
                (f"model: {model_label()}", f"image: {name}", f"NMS IoU {nms:.2f}"),
                None,
                False,
                "Which boxes are right, which are wrong, and which objects were missed?",
            )
        )
    with right:
        tp, fp, fn = result.counts
        if result.truth is None:
            st.metric("Boxes", len(result.detections))
            st.caption("No ground truth for this image: boxes are not judged.")
        else:
            cols = st.columns(3)
            cols[0].metric("TP", tp, help="True positive: a box on a true object of its class, IoU high enough.")
            cols[1].metric("FP", fp, help="False positive: a box on nothing, the wrong class, or a duplicate.")
            cols[2].metric("FN", fn, help="False negative: a true object that no box found.")
        st.dataframe(
            pd.DataFrame(detection.detection_rows(result, names), columns=detection.DETECTION_COLUMNS),
            hide_index=True,
            width="stretch",
            height=300,
            column_config={
                "confidence": st.column_config.NumberColumn(format="%.3f"),
                "IoU": st.column_config.NumberColumn(format="%.3f"),
            },
        )
        st.caption("IoU: with the matched true box for a TP; for an FP, its best overlap with a box of its class.")
        exports.download(
            exports.Shown(
                picture,
                f"{model_label()} on {name}, confidence ≥ {conf:.2f}",
                (f"model: {model_label()}", f"image: {name}", f"NMS IoU {nms:.2f}, match IoU {iou:.2f}"),
                None,
                False,
                "",
            ),
            f"{Path(name).stem}_judged.png",
            "det_png",
            "Download the picture (PNG)",
        )
    metrics_panel(report, shared)


def _fingerprint(batch: detection.DetectionBatch, truths: list[detection.GroundTruth | None]) -> str:
    """A content hash of the raw detections and the ground truth: what the judged results depend on."""
    parts = [a for d in batch.detections for a in (d.boxes, d.scores, d.classes)]
    parts += [a for t in truths if t is not None for a in (t.boxes, t.classes)]
    marks = [str(sorted(batch.names.items())), str([t is None for t in truths])]
    return "|".join(marks + [serving.digest(np.asarray(a)) for a in parts])


def _box_sliders(label: str, default: tuple[int, int, int, int], key: str) -> tuple[float, float, float, float]:
    x1, x2 = st.slider(f"{label}: left and right", 0, 100, (default[0], default[2]), key=f"{key}_x")
    y1, y2 = st.slider(f"{label}: top and bottom", 0, 100, (default[1], default[3]), key=f"{key}_y")
    return x1, y1, x2, y2


@st.fragment
def iou_explainer() -> None:
    """Two boxes to move and resize, with the intersection, union and IoU as they change."""
    st.subheader("IoU, step by step")
    st.caption(
        "Move and resize box A (a prediction) and box B (the truth). IoU is 1 for a perfect fit and 0 "
        "for boxes that do not touch; detectors usually count a box as found from IoU 0.5."
    )
    controls, picture, sums = st.columns([2, 2, 2])
    with controls:
        a = _box_sliders("A", (10, 10, 60, 50), "det_a")
        b = _box_sliders("B", (30, 25, 80, 75), "det_b")
    parts = detection.iou_parts(a, b)
    picture.image(detection.iou_picture(a, b, parts), width="stretch")
    with sums:
        st.metric("IoU", f"{parts.iou:.3f}")
        st.markdown("\n\n".join(detection.iou_arithmetic(parts)))


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
iou_explainer()
