"""Transfer learning lab: feature extraction and fine-tuning trained side by side on the same data."""

import threading

import streamlit as st
from torch import nn

from core import models, safe_text, transfer
from core.config import get_settings
from core.datasets import Dataset, extract_zip, list_datasets, load_dataset, thumbnail, thumbnails
from core.transfer import (
    FEATURE_EXTRACTION,
    FINE_TUNING,
    MAX_EPOCHS,
    SCRATCH,
    STRATEGIES,
    STRATEGY_COLOURS,
    RunConfig,
    RunRecord,
    TrainSettings,
    blocks,
    class_counts_figure,
    comparison,
    confusion,
    confusion_figure,
    curves_figure,
    head_name,
    list_runs,
    mistakes,
    overview,
    read_run,
    trained_module,
)
from dashboard import state, ui
from dashboard.embedding_panel import embedding_section

POLL_SECONDS = 1.5
SIZES = (64, 96, 128, 160, 224)
HYMENOPTERA = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
GUIDE = """
| | **similar to ImageNet** | **unlike ImageNet** |
|---|---|---|
| **little data** | feature extraction: train a new head on frozen features | fine-tune only the last blocks |
| **lots of data** | fine-tune the whole network, small learning rate | fine-tune everything, or train from scratch |
"""


@st.cache_data(ttl=60, max_entries=8, show_spinner="Reading the dataset...")
def _dataset(path: str, val_ratio: float, seed: int) -> Dataset:
    return load_dataset(path, val_ratio, seed)


@st.cache_data(ttl=300, max_entries=8, show_spinner=False)
def _thumbnails(path: str, val_ratio: float, seed: int) -> list:
    return thumbnails(_dataset(path, val_ratio, seed), per_class=5)


@st.cache_data(max_entries=32, show_spinner=False)
def _blocks(key: str) -> list[str]:
    module = models.meta_model(key)
    return blocks(module, head_name(module))


@st.cache_resource(max_entries=6, show_spinner="Loading the trained models...")
def _trained(path: str, strategy: str, stamp: float) -> nn.Module:
    record = read_run(path)
    return trained_module(record, record.strategies[strategy])


@st.cache_resource
def _cam_lock() -> threading.Lock:
    """Grad-CAM hooks the cached trained models: one session at a time."""
    return threading.Lock()


def _swatch(key: str) -> str:
    return f"<span style='color:{STRATEGY_COLOURS[key]}'>■</span> **{STRATEGIES[key].label}**"


def _cancel(path: str) -> None:
    try:
        transfer.cancel_run(path, ui.session_token(), ui.teacher_token())
    except transfer.NotYourRun as exc:
        st.toast(safe_text.markdown(exc), icon=":material/lock:")


def _mistake_caption(mistake) -> str:
    true, predicted = safe_text.markdown(mistake.true), safe_text.markdown(mistake.predicted)
    return f"{true} → {predicted} ({mistake.confidence:.0%})"


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def data_section() -> tuple[str, Dataset] | None:
    """Choose or upload a dataset and show it; returns (its folder, the checked dataset)."""
    left, right = st.columns([3, 2])
    with right:
        upload = st.file_uploader("Or upload a dataset zip", type=["zip"], key="tl_upload")
        if upload is not None and st.button("Unpack the zip", key="tl_unpack", icon=":material/unarchive:"):
            with ui.user_errors("Unpacking the zip"), st.spinner("Unpacking..."):
                st.session_state["tl_dataset"] = str(extract_zip(upload.getvalue(), upload.name))
        st.caption(
            "ImageFolder layout: `train/<class>/*.jpg` and `val/<class>/*.jpg`, or class folders only "
            "(then split below). Files that are not images are skipped and listed."
        )
    choices = {str(c.path): c.label for c in list_datasets()}
    with left:
        if len(choices) == 1:  # only the generated shapes: say how to bring real data
            st.info(
                "Only the generated shapes are here. Put an ImageFolder dataset in the data folder "
                f"`{get_settings().data_dir}` (set `CONVLENS_DATA_DIR` to use another), "
                "or upload a zip such as the ants-and-bees dataset of PyTorch's tutorial "
                f"([hymenoptera_data.zip]({HYMENOPTERA})).",
                icon=":material/folder_open:",
            )
        if st.session_state.get("tl_dataset") not in choices:
            st.session_state["tl_dataset"] = next(iter(choices))
        path = st.selectbox("Dataset", list(choices), key="tl_dataset", format_func=choices.get)
        ratio_col, seed_col = st.columns(2)
        ratio = ratio_col.slider(
            "Validation share",
            0.1,
            0.5,
            0.2,
            0.05,
            key="tl_val_ratio",
            help="Used when the dataset has no val/ folder.",
        )
        seed = seed_col.number_input("Seed", 0, 9999, 0, key="tl_seed", help="Seeds the split and the training.")
    with ui.user_errors("Reading the dataset"):
        dataset = _dataset(path, ratio, int(seed))
        _show_dataset(dataset, path, ratio, int(seed))
        return path, dataset
    return None


def _show_dataset(dataset: Dataset, path: str, ratio: float, seed: int) -> None:
    cols = st.columns(4)
    cols[0].metric("Classes", len(dataset.classes))
    cols[1].metric("Training images", len(dataset.train))
    cols[2].metric("Validation images", len(dataset.val))
    cols[3].metric("Skipped files", len(dataset.skipped))
    split = "its own train/ and val/ folders" if dataset.presplit else f"a seeded {ratio:.0%} per class split"
    st.caption(f"{safe_text.markdown(dataset.root)} · {dataset.total_bytes / 1e6:.0f} MB · validation from {split}.")
    for warning in dataset.warnings:
        st.warning(safe_text.markdown(warning), icon=":material/warning:")
    chart, pictures = st.columns([2, 3])
    chart.plotly_chart(class_counts_figure(dataset), width="stretch", key="tl_counts")
    with pictures:
        for name, images in _thumbnails(path, ratio, seed):
            st.image(images, caption=[safe_text.markdown(name)] * len(images), width=96)
    if dataset.skipped:
        with st.expander(f"{len(dataset.skipped)} skipped file(s)"):
            st.dataframe([{"file": s.path, "why": s.reason} for s in dataset.skipped], hide_index=True)


def train_section(chosen: tuple[str, Dataset] | None) -> None:
    """The training form (the sidebar's model is the backbone) and the strategy guide."""
    form_col, guide_col = st.columns([3, 2])
    with guide_col:
        st.markdown("**Which strategy?**" + GUIDE)
        st.caption(
            "Pretrained features are generic near the input (edges, textures) and specific near the output. "
            "The less data and the closer it is to ImageNet, the more of the network you can keep frozen."
        )
    with form_col:
        if chosen is None:
            st.info("Choose a usable dataset above to train.", icon=":material/dataset:")
            return
        model = ui.selected_model()
        if model is None:
            return
        if not model.trained:
            st.warning(
                f"{model.card.label} has random weights: there is nothing to transfer, so every strategy starts "
                "untrained. Choose Pretrained weights in the sidebar to see transfer learning work.",
                icon=":material/casino:",
            )
        _form(chosen, model.key, model.trained)


def _form(chosen: tuple[str, Dataset], key: str, pretrained: bool) -> None:
    path, dataset = chosen
    units = _blocks(key)
    with st.form("tl_form"):
        backbone = models.model_card(key).label
        st.markdown(f"Backbone: **{backbone}** (the sidebar's model), {len(dataset.classes)} classes.")
        strategies = st.pills(
            "Strategies",
            list(STRATEGIES),
            selection_mode="multi",
            # with pretrained weights, the baseline shows side by side what pretraining is worth
            default=[FEATURE_EXTRACTION.key, FINE_TUNING.key, *([SCRATCH.key] if pretrained else [])],
            format_func=lambda k: STRATEGIES[k].label,
            key="tl_strategies",
        )
        st.caption("  \n".join(f"**{s.label}**: {s.summary}" for s in STRATEGIES.values()))
        c1, c2, c3 = st.columns(3)
        epochs = c1.slider("Epochs", 1, MAX_EPOCHS, 5, key="tl_epochs")
        size = c2.select_slider(
            "Image size (px)",
            SIZES,
            value=max([s for s in SIZES if s <= min(models.model_card(key).crop_size, 160)] or SIZES[:1]),
            key="tl_size",
            help=f"The model was trained at {models.model_card(key).crop_size} px; smaller trains faster on a CPU.",
        )
        batch = c3.select_slider("Batch size", (8, 16, 32, 64), value=16, key="tl_batch")
        lr = c1.select_slider("Head learning rate", (0.001, 0.003, 0.01, 0.03, 0.1), value=0.01, key="tl_lr")
        factor = c2.select_slider(
            "Backbone learning rate",
            (0.01, 0.03, 0.1, 0.3, 1.0),
            value=0.1,
            key="tl_factor",
            format_func=lambda f: f"{f:g} × head's",
            help="Fine-tuning moves pretrained weights gently.",
        )
        depth = c3.select_slider(
            "Fine-tune",
            [*range(1, len(units)), 0],
            value=0,
            key="tl_depth",
            format_func=lambda n: "whole network" if n == 0 else f"last {n} of {len(units)} blocks",
        )
        augment = st.checkbox(
            "Augment with random crops and flips",
            key="tl_augment",
            help="Off: feature extraction computes the backbone's features once and reuses them every epoch. "
            "On: each epoch sees new views, so the frozen backbone runs every epoch.",
        )
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:")
    if submitted:
        with ui.user_errors("Starting the run"):
            settings = TrainSettings(
                epochs, batch, size, lr, factor, depth or None, augment, int(st.session_state.get("tl_seed", 0))
            )
            config = RunConfig(
                path, key, pretrained, tuple(strategies), settings, st.session_state.get("tl_val_ratio", 0.2)
            )
            st.session_state["tl_run_pick"] = transfer.start_run(config, ui.session_token()).name
            st.toast("Training started in the background: this page stays usable.", icon=":material/model_training:")


def _progress_text(record: RunRecord) -> str:
    status = record.status
    label = STRATEGIES[status.strategy].label if status.strategy else "Preparing"
    step = f" · {status.done} of {status.total}" if status.total else ""
    left = f" · about {_duration(status.eta_seconds)} left for {label.lower()}" if status.eta_seconds else ""
    return f"{label}: {status.phase}{step}{left}"


def live_panel(path: str, was_active: bool) -> None:
    """Progress, cancel and the curves of one run; polls the run folder while it trains."""
    record = read_run(path)
    status = record.status
    mine = status.active and transfer.may_cancel(path, ui.session_token(), ui.teacher_token())
    ui.run_state(status, _progress_text(record) if status.active else "", mine, lambda: _cancel(path), "tl_cancel")
    if any(s.history for s in record.strategies.values()):
        st.plotly_chart(curves_figure(record.strategies, record.config.train.epochs), width="stretch", key="tl_curves")
        st.caption(
            "Solid: validation, dotted: training. A training curve far above the validation one is overfitting; "
            "frozen backbones overfit less because only the head learns."
        )
    if was_active and not status.active:
        st.rerun()  # the run ended: draw the results


def results_section(record: RunRecord) -> None:
    """The comparison table, confusion matrices, mistakes and Grad-CAM of a run's best epochs."""
    rows = [r for r in comparison(record) if r.epochs]
    if not rows or record.dataset is None:
        return
    st.subheader("Comparison")
    st.dataframe(
        [
            {
                "strategy": r.label,
                "best val accuracy": f"{r.best_val_acc:.1%} (epoch {r.best_epoch})",
                "final val accuracy": f"{r.final_val_acc:.1%}",
                "trainable parameters": f"{r.trainable_params:,}" if r.trainable_params else "-",
                "wall time": _duration(r.seconds) if r.seconds is not None else "-",
                "epochs": f"{r.epochs} of {record.config.train.epochs}",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
    trained = {k: s for k, s in record.strategies.items() if s.best is not None}
    st.subheader("Confusion matrices (best epoch, validation)")
    for col, (key, strategy) in zip(st.columns(len(trained)), trained.items(), strict=True):
        figure = confusion_figure(confusion(record, strategy), record.dataset.classes, key)
        col.plotly_chart(figure, width="stretch", key=f"tl_cm_{key}")
    st.subheader("Misclassified validation images")
    for col, (key, strategy) in zip(st.columns(len(trained)), trained.items(), strict=True):
        col.markdown(_swatch(key), unsafe_allow_html=True)
        wrong = mistakes(record, strategy)
        pictures = [(thumbnail(m.path, 120), _mistake_caption(m)) for m in wrong[:8]]
        pictures = [(p, c) for p, c in pictures if p is not None]
        if pictures:
            col.image([p for p, _ in pictures], caption=[c for _, c in pictures], width=110)
        col.caption(f"{len(wrong)} of {len(strategy.best.predictions)} wrong; the most confident mistakes first.")
    st.subheader("Where do the trained models look?")
    st.fragment(gradcam_panel)(str(record.path))


def gradcam_panel(path: str) -> None:
    """Grad-CAM of every trained strategy on one validation image, side by side."""
    record = read_run(path)
    usable = {k: s for k, s in record.strategies.items() if s.checkpoint is not None}
    classes, val = record.dataset.classes, record.dataset.val
    wrong = sorted({m.index for s in usable.values() if s.best for m in mistakes(record, s)})
    pick, toggle = st.columns([3, 1])
    index = pick.selectbox(
        "Validation image",
        range(len(val)),
        index=wrong[0] if wrong else 0,
        key=f"tl_cam_{record.run_id}",
        format_func=lambda i: f"{val[i][0]} ({classes[val[i][1]]}){' · misclassified' if i in wrong else ''}",
    )
    true_class = toggle.toggle("Explain the true class", key="tl_cam_true", help="Off: each model's own prediction.")
    with ui.user_errors("Grad-CAM"):
        modules = {k: _trained(path, k, s.checkpoint.stat().st_mtime) for k, s in usable.items()}
        with _cam_lock():
            image, found = transfer.explain(record, index, modules, true_class)
        cols = st.columns(1 + len(found))
        cols[0].image(image, caption=f"true class: {safe_text.markdown(classes[val[index][1]])}", width="stretch")
        for col, item in zip(cols[1:], found, strict=True):
            col.image(item.overlay, width="stretch")
            col.markdown(_swatch(item.strategy), unsafe_allow_html=True)  # the strategy's colour: no user text
            predicted, target = safe_text.markdown(item.predicted), safe_text.markdown(item.target)
            col.markdown(f"**{predicted}** ({item.probability:.0%}); map of *{target}*")
        st.caption(
            "Grad-CAM at each model's last convolutional block: red areas raised the score of the explained class. "
            "A frozen backbone looks where ImageNet features respond; fine-tuning can move its attention."
        )


def runs_section() -> None:
    """Pick a run (training now or from earlier, even before a restart) and show it."""
    runs = {r.run_id: r for r in list_runs()}
    if not runs:
        st.info("No runs yet. Runs are kept on disk and listed here, across refreshes and restarts.")
        return
    if st.session_state.get("tl_run_pick") not in runs:  # this session's newest run first, never another's
        own = [i for i, r in runs.items() if transfer.owns(r.path, ui.session_token())]
        st.session_state["tl_run_pick"] = (own or list(runs))[0]
    # The run's state is shown by the live panel below (the label would go stale while it trains).
    run_id = st.selectbox("Run", list(runs), key="tl_run_pick")
    record = runs[run_id]
    st.fragment(live_panel, run_every=POLL_SECONDS if record.status.active else None)(
        str(record.path), record.status.active
    )
    if not record.status.active:
        results_section(record)
    count = f"{len(runs)} run" if len(runs) == 1 else f"All {len(runs)} runs"
    with st.expander(f"{count} in `{get_settings().runs_dir}`"):
        st.dataframe(
            [
                {"run": o.run_id, "state": o.state, "model": o.model, "dataset": o.dataset, "epochs": o.epochs}
                | {label: f"{acc:.1%}" for label, acc in o.best.items()}
                for o in map(overview, runs.values())
            ],
            hide_index=True,
            width="stretch",
        )
        st.caption("Every run also writes TensorBoard logs: `tensorboard --logdir` followed by the folder above.")


st.title("Transfer learning lab")
state.reset_button("tl_")
st.markdown(
    "Start from a network pretrained on a large dataset (ImageNet for the zoo models, the generated shapes "
    "for Tiny VGG). With **little data**, freeze its backbone and train only a "
    "new head (**feature extraction**); with **more data**, also **fine-tune** the backbone with a smaller "
    "learning rate. Train both on the same data, split, seed and budget, and compare them honestly."
)
st.header("1 · Data")
selected = data_section()
st.subheader("Why a frozen backbone works")
embedding_section(selected)
st.header("2 · Train")
train_section(selected)
st.header("3 · Runs and results")
runs_section()
