"""Transfer learning lab: feature extraction and fine-tuning side by side on the same data. The first screen is
the run's curves and comparison; the data and the training form are in the sidebar, the details below."""

import streamlit as st

from core import models, safe_text, transfer
from core.config import get_settings
from core.datasets import Dataset, extract_zip, list_datasets, load_dataset, thumbnails
from core.transfer import (
    FEATURE_EXTRACTION,
    FINE_TUNING,
    MAX_EPOCHS,
    SCRATCH,
    STRATEGIES,
    RunConfig,
    RunRecord,
    TrainSettings,
    blocks,
    class_counts_figure,
    curves_figure,
    head_name,
    list_runs,
    read_run,
)
from dashboard import state, ui
from dashboard.embedding_panel import embedding_section
from dashboard.transfer_results import all_runs_table, comparison_table, details_section, duration

POLL_SECONDS = 1.5
SIZES = (64, 96, 128, 160, 224)
HYMENOPTERA = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"
INTRO = (
    "Start from a network pretrained on a large dataset (ImageNet for the zoo models, the generated shapes "
    "for Tiny VGG). With **little data**, freeze its backbone and train only a new head (**feature extraction**); "
    "with **more data**, also **fine-tune** the backbone with a smaller learning rate. Train both on the same "
    "data, split, seed and budget, and compare them honestly."
)
GUIDE = """
| | **similar to ImageNet** | **unlike ImageNet** |
|---|---|---|
| **little data** | feature extraction: train a new head on frozen features | fine-tune only the last blocks |
| **lots of data** | fine-tune the whole network, small learning rate | fine-tune everything, or train from scratch |

Pretrained features are generic near the input (edges, textures) and specific near the output. The less data
and the closer it is to ImageNet, the more of the network you can keep frozen.
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


def _cancel(path: str) -> None:
    try:
        transfer.cancel_run(path, ui.session_token(), ui.teacher_token())
    except transfer.NotYourRun as exc:
        st.toast(safe_text.markdown(exc), icon=":material/lock:")


def data_picker() -> tuple[str, float, int]:
    """The sidebar's dataset, validation share and seed (an uploaded zip is unpacked and chosen)."""
    with st.expander("Upload a dataset zip", icon=":material/upload:"):
        upload = st.file_uploader("Dataset zip", type=["zip"], key="tl_upload")
        if upload is not None and st.button("Unpack the zip", key="tl_unpack", icon=":material/unarchive:"):
            with ui.user_errors("Unpacking the zip"), st.spinner("Unpacking..."):
                st.session_state["tl_dataset"] = str(extract_zip(upload.getvalue(), upload.name))
        st.caption(
            "ImageFolder layout: `train/<class>/*.jpg` and `val/<class>/*.jpg`, or class folders only "
            "(then split by the validation share). Files that are not images are skipped and listed."
        )
    choices = {str(c.path): c.label for c in list_datasets()}
    if st.session_state.get("tl_dataset") not in choices:
        st.session_state["tl_dataset"] = next(iter(choices))
    path = st.selectbox("Dataset", list(choices), key="tl_dataset", format_func=choices.get)
    ratio_col, seed_col = st.columns(2)
    ratio = ratio_col.slider(
        "Validation share", 0.1, 0.5, 0.2, 0.05, key="tl_val_ratio", help="Used when the dataset has no val/ folder."
    )
    seed = seed_col.number_input("Seed", 0, 9999, 0, key="tl_seed", help="Seeds the split and the training.")
    return path, ratio, int(seed)


def data_section(path: str, ratio: float, seed: int) -> tuple[str, Dataset] | None:
    """The chosen dataset checked and shown; returns (its folder, the checked dataset)."""
    if len(list_datasets()) == 1:  # only the generated shapes: say how to bring real data
        st.info(
            "Only the generated shapes are here. Put an ImageFolder dataset in the data folder "
            f"`{get_settings().data_dir}` (set `CONVLENS_DATA_DIR` to use another), "
            "or upload a zip in the sidebar such as the ants-and-bees dataset of PyTorch's tutorial "
            f"([hymenoptera_data.zip]({HYMENOPTERA})).",
            icon=":material/folder_open:",
        )
    with ui.user_errors("Reading the dataset"):
        dataset = _dataset(path, ratio, seed)
        _show_dataset(dataset, path, ratio, seed)
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
    """The sidebar's training form: the sidebar's model is the backbone."""
    if chosen is None:
        st.info("Choose a usable dataset to train.", icon=":material/dataset:")
        return
    model = ui.selected_model()
    if model is None:
        return
    if not model.trained:
        st.warning(
            f"{model.card.label} has random weights: nothing to transfer, every strategy starts untrained. "
            "Choose Pretrained weights above to see transfer learning work.",
            icon=":material/casino:",
        )
    _form(chosen, model.key, model.trained)


def _form(chosen: tuple[str, Dataset], key: str, pretrained: bool) -> None:
    path, dataset = chosen
    with st.form("tl_form", border=False):
        st.markdown(f"Backbone: **{models.model_card(key).label}**, {len(dataset.classes)} classes.")
        strategies = st.pills(
            "Strategies",
            list(STRATEGIES),
            selection_mode="multi",
            # with pretrained weights, the baseline shows side by side what pretraining is worth
            default=[FEATURE_EXTRACTION.key, FINE_TUNING.key, *([SCRATCH.key] if pretrained else [])],
            format_func=lambda k: STRATEGIES[k].label,
            key="tl_strategies",
            help="  \n".join(f"**{s.label}**: {s.summary}" for s in STRATEGIES.values()),
        )
        values = _settings_inputs(key)
        submitted = st.form_submit_button("Train", type="primary", icon=":material/play_arrow:", width="stretch")
    if submitted:
        with ui.user_errors("Starting the run"):
            settings = TrainSettings.from_form(**values, seed=st.session_state.get("tl_seed", 0))
            config = RunConfig(
                dataset=path,
                model=key,
                pretrained=pretrained,
                strategies=tuple(strategies),
                train=settings,
                val_ratio=st.session_state.get("tl_val_ratio", 0.2),
            )
            st.session_state["tl_run_pick"] = transfer.start_run(config, ui.session_token()).name
            st.toast("Training started in the background: this page stays usable.", icon=":material/model_training:")


def _settings_inputs(key: str) -> dict[str, object]:
    """The form's budget and optimiser inputs, named as :meth:`TrainSettings.from_form` takes them."""
    crop, units = models.model_card(key).crop_size, _blocks(key)
    epochs = st.slider("Epochs", 1, MAX_EPOCHS, 5, key="tl_epochs")
    size = st.select_slider(
        "Image size (px)",
        SIZES,
        value=max([s for s in SIZES if s <= min(crop, 160)] or SIZES[:1]),
        key="tl_size",
        help=f"The model was trained at {crop} px; smaller trains faster on a CPU.",
    )
    with st.expander("Batch, learning rates, blocks, augmentation"):
        batch = st.select_slider("Batch size", (8, 16, 32, 64), value=16, key="tl_batch")
        lr = st.select_slider("Head learning rate", (0.001, 0.003, 0.01, 0.03, 0.1), value=0.01, key="tl_lr")
        factor = st.select_slider(
            "Backbone learning rate",
            (0.01, 0.03, 0.1, 0.3, 1.0),
            value=0.1,
            key="tl_factor",
            format_func=lambda f: f"{f:g} × head's",
            help="Fine-tuning moves pretrained weights gently.",
        )
        depth = st.select_slider(
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
    return {
        "epochs": epochs,
        "batch_size": batch,
        "image_size": size,
        "lr": lr,
        "backbone_lr_factor": factor,
        "fine_tune_blocks": depth,
        "augment": augment,
    }


def _progress_text(record: RunRecord) -> str:
    status = record.status
    label = STRATEGIES[status.strategy].label if status.strategy else "Preparing"
    step = f" · {status.done} of {status.total}" if status.total else ""
    left = f" · about {duration(status.eta_seconds)} left for {label.lower()}" if status.eta_seconds else ""
    return f"{label}: {status.phase}{step}{left}"


def live_panel(path: str, was_active: bool) -> None:
    """Progress, cancel and the curves of one run; polls the run folder while it trains."""
    record = read_run(path)
    status = record.status
    mine = status.active and transfer.may_cancel(path, ui.session_token(), ui.teacher_token())
    ui.run_state(status, _progress_text(record) if status.active else "", mine, lambda: _cancel(path), "tl_cancel")
    if any(s.history for s in record.strategies.values()):
        st.plotly_chart(
            curves_figure(record.strategies, record.config.train.epochs, record.config.pretrained),
            width="stretch",
            key="tl_curves",
        )
    if was_active and not status.active:
        st.rerun()  # the run ended: draw the results


def runs_section(picker) -> RunRecord | None:
    """Pick a run in ``picker`` (training now or from earlier, even before a restart); its curves and comparison."""
    runs = {r.run_id: r for r in list_runs()}
    if not runs:
        st.info(
            "No runs yet: choose the data and press **Train** in the sidebar. "
            "Runs are kept on disk and listed here, across refreshes and restarts.",
            icon=":material/model_training:",
        )
        return None
    if st.session_state.get("tl_run_pick") not in runs:  # this session's newest run first, never another's
        own = [i for i, r in runs.items() if transfer.owns(r.path, ui.session_token())]
        st.session_state["tl_run_pick"] = (own or list(runs))[0]
    # The run's state is shown by the live panel below (the label would go stale while it trains).
    run_id = picker.selectbox("Run", list(runs), key="tl_run_pick")
    record = runs[run_id]
    st.fragment(live_panel, run_every=POLL_SECONDS if record.status.active else None)(
        str(record.path), record.status.active
    )
    if record.status.active:
        return None
    comparison_table(record)
    st.caption(
        "Solid: validation, dotted: training. A training curve far above the validation one is overfitting; "
        "frozen backbones overfit less because only the head learns."
    )
    all_runs_table(runs)
    return record


heading, picker = st.columns([3, 2], vertical_alignment="bottom")
heading.title("Transfer learning lab", help=INTRO)
with st.sidebar:  # the first screen is for the picture: data and training form here
    state.reset_button("tl_")
    picked = data_picker()
results = st.container()  # drawn after the form below (a new run is picked), shown first
details = st.container()
st.header("Your data")
selected = data_section(*picked)
st.subheader("Why a frozen backbone works")
embedding_section(selected)
st.subheader("Which strategy?")
st.markdown(GUIDE)
with st.sidebar:
    train_section(selected)
with results:
    finished = runs_section(picker)
if finished is not None:
    with details:
        details_section(finished)
