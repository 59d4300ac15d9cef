"""YOLO detection: which objects, where and how sure; judged against the truth with every IoU drawn."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from core import boxes, det_metrics, det_render, serving, shared_render, yolo
from core.errors import ImageError, WeightsUnavailable
from core.render import to_png
from core.settings import get_settings
from dashboard import ui

UPLOAD = "upload"

st.title("YOLO detection")
st.markdown(
    "A classifier says *what* is in a picture. A detector says **which objects, where, and how sure**: "
    "a box, a class and a confidence for each. To judge a box we compare it with the truth by "
    "**IoU**, the area where two boxes overlap divided by the area they cover together."
)


def _model_label(option: str, ready: dict[str, Path], files: dict[str, yolo.ModelFile]) -> str:
    if option == UPLOAD:
        return "Upload a .pt file"
    if option in files:
        return f"{files[option].label} · weights folder"
    return f"{option} · {ready[option].name}" if option in ready else f"{option} · not on this machine"


def _offer_download(name: str, problem: WeightsUnavailable) -> None:
    st.warning(str(problem), icon=":material/cloud_off:")
    if not get_settings().offline and st.button(f"Download {name}.pt with Ultralytics", key=f"det_dl_{name}"):
        with st.spinner(f"Downloading {name}.pt..."), ui.user_errors("Downloading the model"):
            yolo.download_model(name)
            st.rerun()


def _uploaded_model() -> yolo.YoloModel | None:
    refusal = yolo.pt_upload_refusal()
    if refusal is not None:
        st.info(refusal, icon=":material/shield:")
        return None
    upload = st.file_uploader("Ultralytics .pt file", type=["pt"], key="det_pt_upload")
    if upload is None:
        return None
    with st.spinner(f"Loading {upload.name}..."), ui.user_errors("Loading the uploaded model"):
        return yolo.load_uploaded_pt(upload.getvalue(), upload.name)
    return None


def choose_model() -> yolo.YoloModel | None:
    """The model picker: registered names, files in the weights folder, or an upload."""
    ready, missing = {}, {}
    for name in yolo.YOLO_WEIGHTS:
        try:
            ready[name] = yolo.find_model(name)
        except WeightsUnavailable as exc:  # explained when picked
            missing[name] = exc
    files = {m.path.name: m for m in yolo.local_models() if m.path not in ready.values()}
    options = [*yolo.YOLO_WEIGHTS, *files, UPLOAD]
    default = next(iter(ready), next(iter(files), next(iter(yolo.YOLO_WEIGHTS))))
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
    with st.spinner(f"Loading {path.name}..."), ui.user_errors("Loading the model"):
        return yolo.load_model(path, label=choice)
    return None


def choose_images() -> list[tuple[str, bytes]]:
    """Sample images and uploads, as (unique name, bytes)."""
    samples = yolo.sample_images()
    picked = st.multiselect("Sample images", list(samples), default=list(samples), key="det_samples")
    uploads = ui.kept_uploads("Your images", key="det_uploads")
    found, names = [], set()
    for name, data in [(n, samples[n].read_bytes()) for n in picked] + uploads:
        unique = name
        while unique in names:
            unique = f"{Path(unique).stem}_copy{Path(unique).suffix}"
        names.add(unique)
        found.append((unique, data))
    return found


@st.cache_data(max_entries=16, show_spinner="Running the detector once on every image...")
def detect(_model: yolo.YoloModel, model_key: str, images: tuple[bytes, ...]) -> yolo.DetectionBatch:
    """The model's raw boxes (cached: the sliders filter them and never re-run the model)."""
    return serving.detect(_model, [ui.decode_image(data) for data in images])


def _issues(title: str, issues: tuple[boxes.LabelIssue, ...]) -> None:
    shown = "\n".join(f"- {issue}" for issue in issues[:10])
    more = f"\n- ... and {len(issues) - 10} more" if len(issues) > 10 else ""
    st.warning(f"{title}: these were skipped, the rest is used.\n{shown}{more}", icon=":material/rule:")


def ground_truth(images: list[tuple[str, Image.Image]], names: dict[int, str]) -> list[boxes.GroundTruth | None]:
    """Ground truth per image (None: unlabelled) from label files and the editable table."""
    texts = {stem: text for stem, text in yolo.shipped_labels().items() if stem in {Path(n).stem for n, _ in images}}
    label_files = ui.kept_uploads(
        "YOLO label files (.txt, one `class x_center y_center width height` line per box, in [0, 1])",
        key="det_label_files",
        type=["txt"],
        help="Matched to the images by file name: bus.txt goes with bus.jpg.",
    )
    for name, data in label_files:
        texts[Path(name).stem] = data.decode("utf-8", errors="replace")
    stems = {Path(n).stem: (n, image) for n, image in images}
    if unmatched := sorted(set(texts) - set(stems)):
        st.warning(f"No image matches these label files: {', '.join(f'{s}.txt' for s in unmatched)}.")
    rows = []
    for stem, text in texts.items():
        if stem in stems:
            name, image = stems[stem]
            labels = boxes.parse_yolo_labels(text, names)
            if labels.issues:
                _issues(f"{stem}.txt", labels.issues)
            rows += boxes.truth_rows(name, labels.to_ground_truth(*image.size), names)
    with st.expander(f"Ground truth: {len(rows)} boxes from label files; add, edit or delete boxes here"):
        st.caption(
            "Corners in pixels of the image: (x1, y1) top left, (x2, y2) bottom right. "
            "A new set of label files or images starts a fresh table."
        )
        table = pd.DataFrame(rows, columns=boxes.TRUTH_COLUMNS)
        edited = st.data_editor(
            table,
            num_rows="dynamic",
            key=f"det_gt_{hashlib.sha1((table.to_json() + '|'.join(stems)).encode()).hexdigest()[:12]}",
            hide_index=True,
            width="stretch",
            column_config={
                "image": st.column_config.SelectboxColumn(options=[n for n, _ in images], required=True),
                "class": st.column_config.SelectboxColumn(options=list(names.values()), required=True),
                **{c: st.column_config.NumberColumn(min_value=0.0, format="%.1f") for c in boxes.TRUTH_COLUMNS[2:]},
            },
        )
    records = edited.to_dict("records")
    truths: list[boxes.GroundTruth | None] = []
    for name, image in images:
        mine = [r for r in records if r["image"] == name]
        truth, issues = boxes.ground_truth_from_rows(mine, names, *image.size)
        if issues:
            _issues(f"Ground truth of {name}", issues)
        truths.append(truth if mine or Path(name).stem in texts else None)
    return truths


def metrics_panel(report: det_metrics.DetectionReport, shared: tuple) -> None:
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
        det_metrics.class_rows(report),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in scores},
    )
    left, right = st.columns(2)
    with left:
        pr = shared_render.value(shared, ("pr",), lambda: det_render.pr_figure(report.curves, report.iou))
        st.plotly_chart(pr, width="stretch", key="det_pr")
        st.caption(
            "Precision against recall as the confidence threshold goes down; the dot is the current threshold. "
            "The area under each curve is that class's AP."
        )
    with right:
        confusion = shared_render.value(shared, ("confusion",), lambda: det_render.confusion_figure(report.confusion))
        st.plotly_chart(confusion, width="stretch", key="det_confusion")
        st.caption(
            "Each true box against what it was detected as. The background row holds false positives; "
            "the background column holds missed objects."
        )
    st.download_button(
        "Download the metrics (CSV)",
        det_metrics.report_csv(report),
        file_name="detection_metrics.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="det_csv",
    )


@st.fragment
def results(
    images: list[tuple[str, Image.Image]], batch: yolo.DetectionBatch, truths: list[boxes.GroundTruth | None]
) -> None:
    """Thresholds, the judged picture, the detections table and the metrics (slider moves rerun only this)."""
    with ui.user_errors("Judging the boxes"):
        _results(images, batch, truths)


def _results(
    images: list[tuple[str, Image.Image]], batch: yolo.DetectionBatch, truths: list[boxes.GroundTruth | None]
) -> None:
    names = batch.names
    left, middle, right = st.columns(3)
    conf = left.slider(
        "Confidence threshold", 0.01, 1.0, 0.25, 0.01, key="det_conf", help="Boxes less sure than this are hidden."
    )
    nms = middle.slider(
        "NMS IoU",
        0.1,
        yolo.RAW_IOU,
        0.7,
        0.05,
        key="det_nms",
        help="Non-maximum suppression: of two boxes of one class overlapping more than this, the less sure one goes.",
    )
    iou = right.slider(
        "IoU for a match", 0.5, 0.95, 0.5, 0.05, key="det_iou", help="A box is a true positive from this IoU on."
    )
    present = det_metrics.classes_seen(batch.detections, truths, conf)
    chosen = st.multiselect(
        "Classes", present, format_func=lambda c: names.get(c, str(c)), key="det_classes", placeholder="All classes"
    )
    # Everything below depends only on these: judged and drawn once for every session that asks the same.
    shared = (_fingerprint(batch, truths), nms, conf, iou, tuple(chosen))
    kept = shared_render.value(shared[:2], (), lambda: [boxes.filter_detections(d, iou=nms) for d in batch.detections])
    report = shared_render.value(
        shared,
        ("report",),
        lambda: det_metrics.evaluate(kept, truths, names, conf=conf, iou=iou, classes=chosen or None),
    )

    index = 0
    if len(images) > 1:
        index = st.selectbox("Image", range(len(images)), format_func=lambda i: images[i][0], key="det_image")
    name, image = images[index]
    result = report.images[index]
    judged = ("judged", shared_render.digest(image))
    picture = shared_render.encoded(
        shared, judged, lambda: det_render.draw_detections(image, result, names), fmt="JPEG"
    )
    left, right = st.columns([3, 2])
    with left:
        st.image(picture, width="stretch", output_format="JPEG")
        st.image(det_render.legend(), width="stretch")
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
            pd.DataFrame(det_metrics.detection_rows(result, names), columns=det_metrics.DETECTION_COLUMNS),
            hide_index=True,
            width="stretch",
            height=300,
            column_config={
                "confidence": st.column_config.NumberColumn(format="%.3f"),
                "IoU": st.column_config.NumberColumn(format="%.3f"),
            },
        )
        st.caption("IoU: with the matched true box for a TP; for an FP, its best overlap with a box of its class.")
        st.download_button(
            "Download the picture (PNG)",
            lambda: to_png(det_render.draw_detections(image, result, names)),  # drawn when clicked
            file_name=f"{Path(name).stem}_judged.png",
            mime="image/png",
            on_click="ignore",
            icon=":material/download:",
            key="det_png",
        )
    metrics_panel(report, shared)


def _fingerprint(batch: yolo.DetectionBatch, truths: list[boxes.GroundTruth | None]) -> str:
    """A content hash of the raw detections and the ground truth: what the judged results depend on."""
    parts = [a for d in batch.detections for a in (d.boxes, d.scores, d.classes)]
    parts += [a for t in truths if t is not None for a in (t.boxes, t.classes)]
    marks = [str(sorted(batch.names.items())), str([t is None for t in truths])]
    return "|".join(marks + [shared_render.digest(np.asarray(a)) for a in parts])


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
    parts = boxes.iou_parts(a, b)
    picture.image(det_render.iou_picture(a, b, parts), width="stretch")
    with sums:
        st.metric("IoU", f"{parts.iou:.3f}")
        st.markdown("\n\n".join(det_render.iou_arithmetic(parts)))


st.subheader("Model and images")
left, right = st.columns(2)
with left:
    model = choose_model()
with right:
    chosen = choose_images()
decoded = []
for name, data in chosen:
    with ui.user_errors(f"Reading {name}"):
        try:
            decoded.append((name, data, ui.decode_image(data)))
        except ImageError as exc:
            st.error(f"**{name}** was skipped: {exc}", icon=":material/broken_image:")
if model is not None and decoded:
    with ui.user_errors("Detection"):
        batch = detect(model, model.cache_key, tuple(data for _, data, _ in decoded))
        images = [(name, image) for name, _, image in decoded]
        st.caption(
            f"{model.label} ({model.format}) ran once on {len(images)} image(s) in {batch.seconds * 1000:.0f} ms "
            f"on {batch.device.upper()}, keeping every box above confidence {yolo.RAW_CONF} after NMS at "
            f"IoU {yolo.RAW_IOU}. The sliders below filter those boxes without running the model again."
        )
        st.subheader("Ground truth")
        truths = ground_truth(images, batch.names)
        st.subheader("Detections")
        results(images, batch, truths)
elif model is not None:
    st.info("Choose a sample image or upload your own.", icon=":material/image:")
iou_explainer()
