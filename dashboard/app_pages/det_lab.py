"""Detection lab: train YOLO on your own boxes, backbone frozen against everything fine-tuned."""

import streamlit as st

from core import detection_lab, safe_text
from core.detection_lab import (
    CLASSROOM,
    DET_STRATEGIES,
    STRATEGY_COLOURS,
    Comparison,
    DetDataset,
    DetRunConfig,
)
from dashboard import ui

POLL_SECONDS = 1.5
SIZES = (64, 96, 128, 160, 192, 256)


@st.cache_data(ttl=60, max_entries=8, show_spinner="Checking the dataset and its label files...")
def _dataset(path: str) -> DetDataset:
    return detection_lab.load_det_dataset(path)


@st.cache_resource(max_entries=4, show_spinner="Running the trained models on the val images...")
def _comparison(path: str, stamp: float) -> Comparison:
    return detection_lab.compare(detection_lab.read_det_run(path))


def data_section() -> DetDataset | None:
    """Choose or upload a YOLO dataset and show it before training."""
    left, right = st.columns([3, 2])
    with right:
        upload = st.file_uploader("Or upload a YOLO dataset zip", type=["zip"], key="dl_upload")
        if upload is not None and st.button("Unpack the zip", key="dl_unpack", icon=":material/unarchive:"):
            with ui.user_errors("Unpacking the zip"), st.spinner("Unpacking..."):
                st.session_state["dl_dataset"] = str(detection_lab.extract_yolo_zip(upload.getvalue(), upload.name))
        st.caption("YOLO layout: `data.yaml` (train, val, names), `images/{train,val}/`, `labels/{train,val}/*.txt`.")
    with left, ui.user_errors("Preparing the generated dataset"):
        choices = {str(path): label for label, path in detection_lab.list_det_datasets().items()}
        if st.session_state.get("dl_dataset") not in choices:
            st.session_state["dl_dataset"] = next(reversed(choices))
        path = st.selectbox("Dataset", list(choices), format_func=choices.get, key="dl_dataset")
    with ui.user_errors("Reading the dataset"):
        dataset = _dataset(path)
        cols = st.columns(4)
        for col, (label, value) in zip(cols, _figures(dataset), strict=True):
            col.metric(label, value)
        if dataset.issues:
            st.warning(f"{len(dataset.issues)} bad label line(s): fix them before training.", icon=":material/rule:")
            st.dataframe({"problem": list(dataset.issues[:200])}, hide_index=True, width="stretch")
        pictures, counts = st.columns([3, 1])
        shown = detection_lab.preview(dataset)
        pictures.image([p for p, _ in shown], caption=[safe_text.markdown(c) for _, c in shown], width=200)
        counts.dataframe(detection_lab.class_counts_rows(dataset), hide_index=True, width="stretch")
        counts.caption(f"Image sizes: {safe_text.markdown(detection_lab.size_summary(dataset))}")
        return dataset
    return None


def _figures(dataset: DetDataset) -> list[tuple[str, str]]:
    boxes = sum(dataset.boxes_per_class)
    return [("classes", str(len(dataset.classes))), ("train images", str(len(dataset.train))),
            ("val images", str(len(dataset.val))), ("boxes", str(boxes))]  # fmt: skip


def train_section(dataset: DetDataset | None) -> None:
    """Same data, seed, image size and epochs for every strategy; training runs in a worker process."""
    if dataset is None:
        return
    starts = detection_lab.pretrained_choices()
    with st.form("dl_form"):
        c1, c2, c3 = st.columns(3)
        model = c1.selectbox(
            "Start from", starts, key="dl_model",
            format_func=lambda m: "ConvLens classroom detector (shapes)" if m == CLASSROOM else f"{m} · weights folder",
        )  # fmt: skip
        strategies = c2.multiselect(
            "Strategies", list(DET_STRATEGIES), default=["frozen", "finetune"], key="dl_strategies",
            format_func=lambda k: DET_STRATEGIES[k].label,
        )  # fmt: skip
        epochs = c3.number_input("Epochs", 1, 50, 5, key="dl_epochs")
        size = c1.select_slider("Image size", SIZES, value=128, key="dl_size")
        seed = c2.number_input("Seed", 0, 10_000, 0, key="dl_seed")
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if submitted:
        with ui.user_errors("Starting the run"):
            config = DetRunConfig(str(dataset.root), model, tuple(strategies), int(epochs), int(size), int(seed))
            st.session_state["dl_run_pick"] = detection_lab.start_det_run(config, ui.session_token()).name
            st.toast("Training started in the background.", icon=":material/model_training:")


def _cancel(path: str) -> None:
    try:
        detection_lab.cancel_run(path, ui.session_token(), ui.teacher_token())
    except detection_lab.NotYourRun as exc:
        st.toast(safe_text.markdown(exc), icon=":material/lock:")


def live_panel(path: str, was_active: bool) -> None:
    """Progress, cancel and the curves of one run; polls the run folder while it trains."""
    record = detection_lab.read_det_run(path)
    status = record.status
    label = DET_STRATEGIES[status.strategy].label if status.strategy else "Preparing"
    left = f" · about {status.eta_seconds:.0f} s left" if status.eta_seconds else ""
    mine = status.active and detection_lab.may_cancel(path, ui.session_token(), ui.teacher_token())
    ui.run_state(status, f"{label}: {status.phase}{left}", mine, lambda: _cancel(path), "dl_cancel")
    if any(s.history for s in record.strategies.values()):
        st.plotly_chart(detection_lab.curves_figure(record), width="stretch", key="dl_curves")
        st.caption("A frozen backbone trains only the neck and head: faster epochs, less to learn from few boxes.")
    if was_active and not status.active:
        st.rerun()


def _swatch(key: str) -> str:
    return f"<span style='color:{STRATEGY_COLOURS[key]}'>■</span> **{DET_STRATEGIES[key].label}**"


def comparison_panel(path: str) -> None:
    """Every strategy's detections on the same val images, with the IoU view and metrics."""
    record = detection_lab.read_det_run(path)
    stamp = max((s.best.stat().st_mtime for s in record.strategies.values() if s.best), default=0.0)
    with ui.user_errors("Comparing the trained models"):
        result = _comparison(path, stamp)
        st.dataframe(detection_lab.summary_rows(result), hide_index=True, width="stretch")
        conf, iou = detection_lab.CONF, detection_lab.IOU
        st.caption(f"On these {len(result.images)} val images, boxes above confidence {conf}, a hit at IoU {iou}.")
        st.image(detection_lab.legend(), width=600)
        cols = st.columns(len(result.strategies))
        for col, found in zip(cols, result.strategies, strict=True):
            col.markdown(_swatch(found.key), unsafe_allow_html=True)  # the strategy's colour: no user text
            for image, judged in zip(result.images, found.report.images, strict=True):
                col.image(detection_lab.picture(image, judged, found.names), width="stretch")


def runs_section() -> None:
    """Pick a run (training now or from earlier, even before a restart) and show it."""
    runs = {r.run_id: r for r in detection_lab.list_det_runs()}
    if not runs:
        st.info("No detection runs yet. Runs are kept on disk and listed here, across refreshes and restarts.")
        return
    if st.session_state.get("dl_run_pick") not in runs:
        active = [i for i, r in runs.items() if r.status.active]
        st.session_state["dl_run_pick"] = (active or list(runs))[0]
    record = runs[st.selectbox("Run", list(runs), key="dl_run_pick")]
    st.fragment(live_panel, run_every=POLL_SECONDS if record.status.active else None)(
        str(record.path), record.status.active
    )
    if not record.status.active and any(s.best for s in record.strategies.values()):
        st.subheader("The trained models on the same val images")
        comparison_panel(str(record.path))


st.title("Detection lab")
st.markdown(
    "Train a YOLO detector on **your own boxes**. Start from a pretrained detector and either keep its "
    "**backbone frozen** (only the neck and the detection head learn) or **fine-tune everything**; "
    "both runs get the same data, seed, image size and epochs, judged by val **mAP50** and **mAP50-95**."
)
if not detection_lab.classroom_available():
    st.info("The classroom detector is not in assets/detector/: put a COCO .pt in the weights folder to start from.")
st.header("1 · Data")
chosen = data_section()
st.header("2 · Train")
train_section(chosen)
st.header("3 · Runs and results")
runs_section()
