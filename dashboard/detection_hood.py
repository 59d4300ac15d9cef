"""The YOLO page's "Under the hood" section: the grids, the raw candidates, NMS step by step, where it looks."""

from __future__ import annotations

import pandas as pd
import streamlit as st
from PIL import Image

from core import detection
from dashboard import ui

PLAY_SECONDS = 1.0


@st.cache_data(max_entries=16, show_spinner="Keeping every candidate of the model (one pass, then cached)...")
def raw_output(_model: detection.YoloModel, model_key: str, data: bytes) -> detection.RawOutput:
    """All the model's candidates on one image (cached: the section's sliders never re-run the model)."""
    return detection.raw_output(_model, ui.decode_image(data))


@st.cache_data(max_entries=16, show_spinner=False)
def fixed_pictures(_raw: detection.RawOutput, model_key: str, data: bytes) -> tuple[list[Image.Image], Image.Image]:
    """The pictures that do not depend on the thresholds: the tinted grids and all candidates (once per image)."""
    heat = detection.level_heatmaps(_raw)
    grids = [detection.grid_base(_raw, number, heat[number]) for number in range(len(_raw.levels))]
    return grids, detection.candidates_picture(_raw, range(len(_raw.boxes)))


@st.cache_data(max_entries=32, show_spinner="One forward and one backward pass...")
def box_cam(_model: detection.YoloModel, model_key: str, data: bytes, candidate: int, class_id: int, method: str):
    """The CAM of one candidate's class score (cached per image, box and method)."""
    return detection.box_cam(_model, raw_output(_model, model_key, data), candidate, class_id, method)


def section(model: detection.YoloModel, decoded: list[tuple[str, bytes, Image.Image]]) -> None:
    """The section's header, its switch and the image it looks into."""
    st.subheader("Under the hood: from one forward pass to the final boxes")
    if not st.toggle("Show how YOLO gets there, in four steps", key="det_hood"):
        st.caption("The grids, all raw candidates, NMS step by step, and where the detector looks for a box.")
        return
    index = 0
    if len(decoded) > 1:
        index = st.selectbox("Image", range(len(decoded)), format_func=lambda i: decoded[i][0], key="det_hood_image")
    _, data, image = decoded[index]
    st.caption(
        f"The model runs once more on this image, letterboxed to a {model.imgsz}x{model.imgsz} square "
        "(the size it was trained at) so that every cell of every grid exists, and keeps all its candidates; "
        "the sliders here filter them. "
        "A .pt model may run on a smaller rectangle above, so its boxes there can differ by a pixel or two."
    )
    with ui.user_errors("Looking inside the model"):
        raw = raw_output(model, model.cache_key, data)
        explore(model, data, image, raw)


@st.fragment
def explore(model: detection.YoloModel, data: bytes, image: Image.Image, raw: detection.RawOutput) -> None:
    """The two thresholds and the four steps (moves rerun only this)."""
    with ui.user_errors("Looking inside the model"):
        left, right = st.columns(2)
        conf = left.slider("Confidence threshold", 0.01, 1.0, 0.25, 0.01, key="det_hood_conf")
        iou = right.slider(
            "NMS IoU", 0.1, 0.95, 0.7, 0.05, key="det_hood_nms", help="Which duplicates NMS drops (not the match IoU)."
        )
        run = detection.run_nms(raw, conf, iou)
        grid_bases, everything = fixed_pictures(raw, model.cache_key, data)
        grids, candidates, nms, looks = st.tabs(
            ["1 · The grids", "2 · Raw candidates", "3 · NMS step by step", "4 · Where it looks"]
        )
        with grids:
            _grids(raw, run, grid_bases)
        with candidates:
            _candidates(raw, run, everything)
        with nms:
            playing = st.toggle("Play (one step a second, loops)", key="det_hood_play")
            st.fragment(_steps, run_every=PLAY_SECONDS if playing else None)(model.names, raw, run, playing)
            _export(raw, run, model.names)
        with looks:
            _looks(model, data, image, raw, run)


def _grids(raw: detection.RawOutput, run: detection.NmsRun, bases: list[Image.Image]) -> None:
    sizes = " + ".join(f"{g.rows}x{g.cols}" for g in raw.levels)
    st.markdown(
        f"The head looks at the {raw.letterboxed.width}x{raw.letterboxed.height} input through "
        f"**{len(raw.levels)} grids** (strides {', '.join(str(g.stride) for g in raw.levels)} px): "
        f"{sizes} = **{len(raw.boxes):,} cells**, each "
        "predicting a box and a score per class. Fine grids find small objects; coarse grids, large ones."
    )
    for column, (number, grid) in zip(st.columns(len(raw.levels)), enumerate(raw.levels), strict=True):
        column.image(detection.grid_picture(raw, number, bases[number], run.kept), width="stretch")
        column.caption(f"Stride {grid.stride}: {sum(raw.level_of(run.kept) == number)} final box(es) from here.")
    anchors = raw.levels[0].anchors
    st.caption(
        f"Each cell is tinted by its best class score (clear 0, yellow 1). Green: the final boxes this grid predicted. "
        f"This model predicts {anchors} box(es) per cell. {detection.ANCHOR_FREE_NOTE}"
    )


def _candidates(raw: detection.RawOutput, run: detection.NmsRun, everything: Image.Image) -> None:
    left, right = st.columns(2)
    left.image(everything, width="stretch")
    left.metric("All candidates, before any threshold", f"{len(raw.boxes):,}")
    right.image(detection.candidates_picture(raw, run.above, opacity=0.8), width="stretch")
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
    left.image(detection.nms_picture(raw, run, step, names), width="stretch")
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
    rows = detection.step_rows(raw, run, names)
    st.dataframe(pd.DataFrame(rows, columns=detection.STEP_COLUMNS), hide_index=True, width="stretch")
    st.download_button(
        "Download the NMS steps (CSV)",
        detection.steps_csv(raw, run, names),
        file_name="nms_steps.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="det_hood_csv",
    )


def _looks(model, data: bytes, image: Image.Image, raw, run: detection.NmsRun) -> None:
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
    cam = box_cam(model, model.cache_key, data, candidate, int(raw.best_class[candidate]), method)
    box = raw.to_image(raw.boxes[[candidate]])[0]
    st.image(detection.cam_picture(image, cam, box), width="stretch")
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
