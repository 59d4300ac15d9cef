"""The transfer page's results of a finished run: confusion matrices, mistakes and Grad-CAM side by side."""

from __future__ import annotations

import threading

import streamlit as st
from torch import nn

from core import safe_text, transfer
from core.config import get_settings
from core.datasets import thumbnail
from core.transfer import (
    STRATEGIES,
    STRATEGY_COLOURS,
    RunRecord,
    comparison,
    confusion,
    confusion_figure,
    mistakes,
    overview,
    read_run,
    trained_module,
)
from dashboard import ui


@st.cache_resource(max_entries=6, show_spinner="Loading the trained models...")
def _trained(path: str, strategy: str, stamp: float) -> nn.Module:
    record = read_run(path)
    return trained_module(record, record.strategies[strategy])


@st.cache_resource
def _cam_lock() -> threading.Lock:
    """Grad-CAM hooks the cached trained models: one session at a time."""
    return threading.Lock()


def duration(seconds: float) -> str:
    """Seconds as a short text: "42 s" or "3 min"."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _swatch(key: str) -> str:
    return f"<span style='color:{STRATEGY_COLOURS[key]}'>■</span> **{STRATEGIES[key].label}**"


def _mistake_caption(mistake) -> str:
    true, predicted = safe_text.markdown(mistake.true), safe_text.markdown(mistake.predicted)
    return f"{true} → {predicted} ({mistake.confidence:.0%})"


def comparison_table(record: RunRecord) -> None:
    """One row per trained strategy: best and final accuracy, trainable parameters, time, epochs."""
    rows = [r for r in comparison(record) if r.epochs]
    if not rows or record.dataset is None:
        return
    st.dataframe(
        [
            {
                "strategy": r.label,
                "best val accuracy": f"{r.best_val_acc:.1%} (epoch {r.best_epoch})",
                "final val accuracy": f"{r.final_val_acc:.1%}",
                "trainable parameters": f"{r.trainable_params:,}" if r.trainable_params else "-",
                "wall time": duration(r.seconds) if r.seconds is not None else "-",
                "epochs": f"{r.epochs} of {record.config.train.epochs}",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )


def details_section(record: RunRecord) -> None:
    """Confusion matrices, mistakes and Grad-CAM of a finished run's best epochs."""
    trained = {k: s for k, s in record.strategies.items() if s.best is not None}
    if not trained or record.dataset is None:
        return
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
            image, found = transfer.strategy_grad_cams(record, index, modules, true_class)
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


def all_runs_table(runs: dict[str, RunRecord]) -> None:
    """Every run on disk in one table, in an expander."""
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
