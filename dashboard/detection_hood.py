"""The YOLO page's "Under the hood" section: the grids, the raw candidates, NMS step by step, where it looks.

Every result and picture here comes from :mod:`core.serving.hood`: computed, drawn and encoded once
for every session that shows the same model, image, thresholds and step.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from PIL import Image

from core import detection, serving
from dashboard import ui

PLAY_SECONDS = 1.0


def section(model: detection.YoloModel, decoded: list[tuple[str, bytes, Image.Image]]) -> None:
    """The section's header, its switch and the image it looks into."""
    st.subheader("Under the hood: from one forward pass to the final boxes")
    if not st.toggle("Show how YOLO gets there, in four steps", key="det_hood"):
        st.caption("The grids, all raw candidates, NMS step by step, and where the detector looks for a box.")
        return
    index = 0
    if len(decoded) > 1:
        index = st.selectbox("Image", range(len(decoded)), format_func=lambda i: decoded[i][0], key="det_hood_image")
    image = decoded[index][2]
    st.caption(
        f"The model runs once more on this image, letterboxed to a {model.imgsz}x{model.imgsz} square "
        "(the size it was trained at) so that every cell of every grid exists, and keeps all its candidates; "
        "the sliders here filter them. "
        "A .pt model may run on a smaller rectangle above, so its boxes there can differ by a pixel or two."
    )
    with ui.user_errors("Looking inside the model"):
        with st.spinner("Keeping every candidate of the model (one pass, shared by every session)..."):
            raw = serving.hood.raw_output(model, image)
        explore(model, image, raw)


@st.fragment
def explore(model: detection.YoloModel, image: Image.Image, raw: detection.RawOutput) -> None:
    """The two thresholds and the four steps (moves rerun only this)."""
    with ui.user_errors("Looking inside the model"):
        left, right = st.columns(2)
        conf = left.slider("Confidence threshold", 0.01, 1.0, 0.25, 0.01, key="det_hood_conf")
        iou = right.slider(
            "NMS IoU", 0.1, 0.95, 0.7, 0.05, key="det_hood_nms", help="Which duplicates NMS drops (not the match IoU)."
        )
        run = serving.hood.nms(raw, conf, iou)
        grids, candidates, nms, looks = st.tabs(
            ["1 · The grids", "2 · Raw candidates", "3 · NMS step by step", "4 · Where it looks"]
        )
        with grids:
            _grids(raw, run)
        with candidates:
            _candidates(raw, run)
        with nms:
            playing = st.toggle("Play (one step a second, loops)", key="det_hood_play")
            st.fragment(_steps, run_every=PLAY_SECONDS if playing else None)(model.names, raw, run, playing)
            _export(raw, run, model.names)
        with looks:
            _looks(model, image, raw, run)


def _grids(raw: detection.RawOutput, run: detection.NmsRun) -> None:
    sizes = " + ".join(f"{g.rows}x{g.cols}" for g in raw.levels)
    st.markdown(
        f"The head looks at the {raw.letterboxed.width}x{raw.letterboxed.height} input through "
        f"**{len(raw.levels)} grids** (strides {', '.join(str(g.stride) for g in raw.levels)} px): "
        f"{sizes} = **{len(raw.boxes):,} cells**, each "
        "predicting a box and a score per class. Fine grids find small objects; coarse grids, large ones."
    )
    for column, (number, grid) in zip(st.columns(len(raw.levels)), enumerate(raw.levels), strict=True):
        column.image(serving.hood.grid_png(raw, run, number), width="stretch")
        column.caption(f"Stride {grid.stride}: {sum(raw.level_of(run.kept) == number)} final box(es) from here.")
    anchors = raw.levels[0].anchors
    st.caption(
        f"Each cell is tinted by its best class score (clear 0, yellow 1). Green: the final boxes this grid predicted. "
        f"This model predicts {anchors} box(es) per cell. {detection.ANCHOR_FREE_NOTE}"
    )


def _candidates(raw: detection.RawOutput, run: detection.NmsRun) -> None:
    left, right = st.columns(2)
    left.image(serving.hood.candidates_png(raw), width="stretch")
    left.metric("All candidates, before any threshold", f"{len(raw.boxes):,}")
    right.image(serving.hood.candidates_png(raw, run), width="stretch")
    right.metric(f"Above confidence {run.conf:.2f}", f"{len(run.above):,}")
    st.caption(
        "Every candidate's outline, drawn faintly: blue is denser where more boxes pile up. Most cells "
        "see only background and score near 0; the confidence threshold removes them before NMS."
    )


def _steps(names: dict[int, str], raw: detection.RawOutput, run: detection.NmsRun, playing: bool) -> None:
    """The step slider and the picture of one NMS step."""
    total = len(run.steps)
    if total == 0:
        st.info("No candidate is above the confidence threshold: lower it to see NMS at work.")
        return
    state = st.session_state
    state["det_hood_step"] = min(state.get("det_hood_step", 1), total)  # thresholds may leave fewer steps
    if playing:
        state["det_hood_step"] = state["det_hood_step"] % total + 1
    step = st.slider("NMS step", 0, total, key="det_hood_step")
    left, right = st.columns([3, 2])
    left.image(serving.hood.nms_png(raw, run, step, names), width="stretch")
    survivors = len(run.above) if step == 0 else run.steps[step - 1].survivors
    right.metric("Boxes left (kept + waiting)", survivors, delta=survivors - len(run.above) or None)
    right.text(_step_text(names, raw, run, step))  # class names come from the model file: plain text
    right.markdown(
        "**NMS IoU** decides which duplicates to drop. It is not the **IoU for a match** used above, "
        "which decides when a detection counts as a true positive against the truth."
    )


def _step_text(names: dict[int, str], raw: detection.RawOutput, run: detection.NmsRun, step: int) -> str:
    if step == 0:
        return f"{len(run.above)} candidates wait, best first. Each step keeps the best one still waiting."
    current = run.steps[step - 1]
    class_id = int(raw.best_class[current.kept])
    name = names.get(class_id, str(class_id))
    ious = ", ".join(f"{v:.2f}" for v in sorted(current.ious, reverse=True)[:8])
    more = " ..." if len(current.ious) > 8 else ""
    removed = f"remove {len(current.removed)} box(es) of that class with IoU > {run.iou:.2f}: {ious}{more}"
    return (
        f"Step {step} of {len(run.steps)}: keep the most confident box still waiting (yellow), "
        f"{name} {raw.best[current.kept]:.2f}, and {removed if len(current.removed) else 'remove none'} (red)."
    )


def _export(raw: detection.RawOutput, run: detection.NmsRun, names: dict[int, str]) -> None:
    rows, csv = serving.hood.steps_table(raw, run, names)
    st.dataframe(pd.DataFrame(rows, columns=detection.STEP_COLUMNS), hide_index=True, width="stretch")
    st.download_button(
        "Download the NMS steps (CSV)",
        csv,
        file_name="nms_steps.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="det_hood_csv",
    )


def _looks(model: detection.YoloModel, image: Image.Image, raw: detection.RawOutput, run: detection.NmsRun) -> None:
    if (why := detection.cam_unavailable(model)) is not None:
        st.info(why, icon=":material/visibility_off:")
        return
    if len(run.kept) == 0:
        st.info("No final box at these thresholds: lower the confidence to pick one.")
        return
    left, right = st.columns(2)
    choice = left.selectbox(
        "Final box", range(len(run.kept)), key="det_hood_box", format_func=lambda i: _box_label(model, raw, run, i)
    )
    method = right.radio("Method", detection.CAM_METHODS, horizontal=True, key="det_hood_method")
    if not st.toggle("Show where the detector looks (one forward and one backward pass)", key="det_hood_cam"):
        return
    candidate = int(run.kept[choice])
    with st.spinner("One forward and one backward pass (shared by every session)..."):
        cam = serving.hood.box_cam(model, image, candidate, int(raw.best_class[candidate]), method)
    st.image(serving.hood.cam_png(image, raw, cam, candidate), width="stretch")
    box = raw.to_image(raw.boxes[[candidate]])[0]
    where = "inside" if detection.peak_inside(cam, box) else "outside"
    st.caption(
        f"{method} for this box's class score ({cam.score:.2f}), over the three maps the head reads; the cross "
        f"marks the peak, {where} the box. EigenCAM is the maps' main pattern, the same for every box; "
        "Grad-CAM and LayerCAM follow the gradient of this box's score: LayerCAM weighs each place by its own "
        "gradient, so it stays on this box; Grad-CAM averages the gradient over the whole grid, so it can light "
        "another object that shares the box's features."
    )


def _box_label(model: detection.YoloModel, raw: detection.RawOutput, run: detection.NmsRun, i: int) -> str:
    index = int(run.kept[i])
    class_id = int(raw.best_class[index])
    stride = raw.levels[int(raw.level_of([index])[0])].stride
    return f"{i + 1} · {model.names.get(class_id, class_id)} {raw.best[index]:.2f} (stride {stride})"
