"""Grad-CAM & attributions: where does the network look when it decides?"""

from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image

from core import explain, models, safe_text, serving
from core.explain import METHODS
from core.models import Classification, LoadedModel
from core.viz import COLORMAPS, Legend, apply_colormap, legend_bar, overlay, upscale_nearest
from dashboard import compare, exports, presenter, state, ui
from dashboard import gradcam_controls as controls

VIEWS = {"map": "One map", "top3": "Top-3", "depth": "By layer", "sanity": "Sanity"}  # short: one row
SANITY_METHODS = ("grad_cam", "guided_grad_cam", "saliency")
SANITY_STEPS = 6
OWN_SCALES = ("no evidence", "each map's strongest (own scale)")  # colour bar ends of views with several maps
QUESTION = "Where did the network look, and is that where you would look?"


class Subject(NamedTuple):
    """What every view explains: the sidebar's model and image, the chosen class and layer."""

    model: LoadedModel
    model_id: tuple  # cache key for the model (its key, weights and device)
    image: Image.Image
    digest: str  # identifies the image in requests made by buttons
    picture: Image.Image  # the crop the model sees, for overlays
    target: int
    layer: str
    controls: object  # where the view's widgets go (a column, or under the picture in presenter mode)
    stage: object  # where its pictures go
    context: "Context"


class Panel(NamedTuple):
    title: str
    heat: np.ndarray  # (H, W) in [0, 1] at the input's resolution
    raw: np.ndarray | None  # the map before upsampling (the layer's resolution), in [0, 1]


class Context(NamedTuple):
    """What a downloaded slide says besides its title: model, image, layer; and whether weights are random."""

    facts: tuple[str, ...]
    untrained: bool


class Drawing(NamedTuple):
    """How a view's panels are drawn: what they come from (shared pictures are keyed by it) and their colour bar."""

    owner: object  # the shared result the panels come from, or the request that made them
    stem: str  # file names of the downloads
    ends: tuple[str, str] = ("no evidence", "strong evidence")  # the colour bar's ends, in words
    columns: int = 3
    downloads: bool = True


def _explain(model: LoadedModel, image: Image.Image, targets: tuple, layers: tuple):
    with st.spinner("Computing Grad-CAM…"):
        return serving.explain(model, image, targets, layers)  # shared by every session, batched


def _raw_picture(raw: np.ndarray, cmap: str, width: int) -> np.ndarray:
    """The unsmoothed map with one visible square per value (7x7 looks like 7x7)."""
    return upscale_nearest(apply_colormap(raw, cmap), max(1, width // raw.shape[1]))


def _panel(picture: Image.Image, panel: Panel, i: int, how: Drawing, context: Context, cell, raw_cell) -> None:
    """One overlay (and its raw map), drawn once for every session that shows the same; its download."""
    alpha, cmap = st.session_state.get("gc_alpha", 0.5), st.session_state.get("gc_cmap", "jet")
    blend = lambda: overlay(picture, panel.heat, alpha, cmap)  # noqa: E731
    blended, data = exports.shared(how.owner, ("overlay", how.stem, i, alpha, cmap), blend, context.untrained)
    cell.image(data, caption=panel.title, width="stretch")
    legend = Legend(cmap, *how.ends)  # its high end says which scale: this map's own, or one for all
    shown = exports.Shown(blended, panel.title, context.facts, legend, context.untrained, QUESTION)
    if i == 0:
        exports.record(shown)
    if how.downloads:
        name = f"{how.stem}.png" if raw_cell is not cell else f"{how.stem}_{i + 1}.png"
        exports.download(shown, name, f"gc_png_{i}", "Overlay (PNG)", where=cell)
    if panel.raw is not None:
        draw = lambda: _raw_picture(panel.raw, cmap, picture.width)  # noqa: E731 (the opacity does not change it)
        _, raw = exports.shared(how.owner, ("raw", how.stem, i, cmap), draw, context.untrained)
        raw_cell.image(raw, caption=f"raw map, {panel.raw.shape[0]}x{panel.raw.shape[1]}", width="stretch")


@st.fragment
def _draw(picture: Image.Image, panels: list[Panel], how: Drawing, context: Context) -> None:
    """Overlays and raw maps, then the opacity and colormap controls (they rerun only this part, never the model)."""
    single, width = len(panels) == 1, min(how.columns, len(panels))
    for i, panel in enumerate(panels):
        if i % width == 0:  # a new row; one map: the overlay on the left, its raw map on the right
            cells = st.columns(2 if single else width)
        cell = cells[i % width]
        _panel(picture, panel, i, how, context, cell, cells[1] if single else cell)
    if not single:  # one colour bar for the row, saying which scale the maps are on
        cmap = st.session_state.get("gc_cmap", "jet")
        bar = serving.encoded(how.ends, ("legend", cmap), lambda: legend_bar(Legend(cmap, *how.ends)))
        st.image(bar, width="stretch")
    left, right = st.columns(2)
    left.slider("Heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="gc_alpha", on_change=state.changed)
    right.selectbox("Colormap", COLORMAPS, index=COLORMAPS.index("jet"), key="gc_cmap", on_change=state.changed)


def _one_map(s: Subject) -> None:
    options = controls.options()  # as their widgets below were last set
    size = (s.picture.height, s.picture.width)
    costs = {k: m.cost(options, size) for k, m in METHODS.items()}
    with st.spinner("Timing a warm pass of the model…"):
        times = serving.pass_times(s.model, size)  # timed once per model and size, for every session
    with s.controls:
        key = st.radio(
            "Method",
            list(METHODS),
            format_func=lambda k: METHODS[k].label,
            captions=[f"{c.describe()} · ≈ {c.estimate(times):.1f} s" for c in costs.values()],
            key="gc_method",
        )
        chosen, cost = METHODS[key], costs[key]
        st.caption(chosen.idea + " Times are estimated from a warm, measured pass of this model.")
        controls.option_widgets(key, min(size))
        request = (s.model_id, s.digest, key, s.target, s.layer, options)
        if chosen.expensive:
            if st.button(
                f"Run {chosen.label}: {cost.describe()}, ≈ {cost.estimate(times):.1f} s",
                key="gc_run",
                icon=":material/play_arrow:",
            ):
                st.session_state["gc_requested"] = request
            if st.session_state.get("gc_requested") != request:
                s.stage.info(
                    f"{chosen.label} is expensive: it runs when you press the button.", icon=":material/timer:"
                )
                return
    with s.stage, ui.user_errors(chosen.label), st.spinner(f"Computing {chosen.label}…"):
        result = serving.attribute(s.model, s.image, key, s.target, s.layer, options)  # shared by every session
        if result.note:
            st.caption(result.note)
        panel = Panel(result.title(explain.layer_words(s.model.key, s.layer)), result.heat, result.coarse)
        raw = panel if result.coarse is not None else panel._replace(raw=result.heat)
        _draw(s.picture, [raw], Drawing(result, f"{key}_{s.model.key}_{s.target}"), s.context)
        presenter.notice("gradcam", "map")


def _top3(s: Subject, result: Classification) -> None:
    targets = tuple(p.index for p in result.top[:3])
    with s.controls:
        own = st.toggle("Scale each map on its own", key="gc_own_scale", on_change=state.changed)
    with s.stage, ui.user_errors("Grad-CAM of the top-3 classes"):
        cams = _explain(s.model, s.image, targets, (s.layer,))
        scaled = serving.value(cams, ("scaled", not own), lambda: explain.scale_maps(cams.layers[0], not own))
        panels = [
            Panel(f"{label} · {p:.1%}", scaled.maps[i], scaled.coarse[i])
            for i, (label, p) in enumerate(zip(cams.labels, cams.probabilities, strict=True))
        ]
        stem = f"gradcam_top3_{s.model.key}" + ("_own_scales" if own else "_one_scale")
        _draw(s.picture, panels, Drawing(cams, stem, scaled.ends), s.context)
        presenter.notice("gradcam", "top3")
        st.caption(
            f"The three most probable classes at {explain.layer_words(s.model.key, s.layer)}, from one forward and "
            "one backward pass: the layer's output is repeated once per class, so the network runs once. "
            f"Different classes, different evidence. **{scaled.note}**"
        )


def _depth(s: Subject) -> None:
    layers = explain.layer_choices(s.model.key).depth
    with s.stage, ui.user_errors("Grad-CAM layer by layer"):
        cams = _explain(s.model, s.image, (s.target,), layers)
        panels = [
            Panel(f"{m.layer} · {m.coarse.shape[1]}x{m.coarse.shape[2]}", m.maps[0], m.coarse[0]) for m in cams.layers
        ]
        how = Drawing(cams, f"gradcam_depth_{s.model.key}", OWN_SCALES, len(panels))
        _draw(s.picture, panels, how, s.context)
        presenter.notice("gradcam", "depth")
        st.caption(
            f"Grad-CAM of {cams.labels[0]}, shallow to deep. Early layers have sharp maps of edges and colours that "
            "hardly depend on the class; deep layers have coarse maps that are about the class."
        )


def _sanity_check(s: Subject) -> None:
    with s.controls:
        key = st.segmented_control(
            "Method to test",
            SANITY_METHODS,
            format_func=lambda k: METHODS[k].label,
            default="grad_cam",
            required=True,
            key="gc_sanity_method",
        )
        steps = len(explain.cascade_groups(s.model.module, SANITY_STEPS))
        st.caption(
            "Cascading randomisation (Adebayo et al., 2018): replace the weights with random ones, from the output "
            "layer down, on a private copy, and compare each map with the original. A map that explains the model "
            f"must change; one that stays the same shows the image's edges, not what was learned. {steps + 1} maps."
        )
        request = (s.model_id, s.digest, key, s.target, s.layer)
        if st.button("Randomise the weights, top layer first", key="gc_sanity_run", icon=":material/casino:"):
            st.session_state["gc_sanity_requested"] = request
        if st.session_state.get("gc_sanity_requested") != request:
            return
    with s.stage, ui.user_errors("The sanity check"):
        with st.spinner("Randomising the weights, layer group by layer group…"):
            check = serving.sanity_check(s.model, s.image, key, s.target, s.layer, SANITY_STEPS)  # shared
        panels = [Panel("original", check.original, None)] + [
            Panel(
                f"down to {stage.label} · " + ("flat map" if np.isnan(stage.spearman) else f"ρ = {stage.spearman:.2f}"),
                stage.heat,
                None,
            )
            for stage in check.stages
        ]
        how = Drawing(request, f"sanity_{key}_{s.model.key}", OWN_SCALES, 4, False)
        _draw(s.picture, panels, how, s.context)
        presenter.notice("gradcam", "sanity")
        figure = serving.value(check, ("similarity",), lambda: explain.similarity_figure(check))
        st.plotly_chart(figure, width="stretch", key="gc_sanity_chart")
        st.caption(explain.verdict(check, s.model.trained))


def _second_cam(second: LoadedModel, image: Image.Image, caption: str) -> None:
    """Grad-CAM of the second model's own prediction, at its default layer, on the same image."""
    with ui.user_errors(f"Grad-CAM of {second.display_name}"):
        guess = serving.classify(second, image, k=5).top[0]
        layer = explain.layer_choices(second.key).default
        cams = _explain(second, image, (guess.index,), (layer,))
        alpha, cmap = st.session_state.get("gc_alpha", 0.5), st.session_state.get("gc_cmap", "jet")
        heat, data = exports.shared(
            cams,
            ("second", alpha, cmap),
            lambda: overlay(serving.model_view(second, image), cams.layers[0].maps[0], alpha, cmap),
            not second.trained,
        )
        title = f"{second.display_name}: Grad-CAM of {cams.labels[0]} ({cams.probabilities[0]:.1%}) at {layer}"
        st.image(data, caption=title, width="stretch")
        facts = (f"model: {second.display_name}", f"image: {caption}", f"layer: {layer}")
        exports.record(exports.Shown(heat, title, facts, None, not second.trained, ""))


st.title("Grad-CAM & attributions")
with st.sidebar:  # the first screen is for the picture
    state.reset_button("gc_")
st.caption(
    "Where does the network look when it decides? Pick a class and a layer: the heatmap shows which places "
    "in the image raised that class's score."
)
picked, model = ui.selected_image(), ui.selected_model()
if picked is None or model is None:
    st.stop()
image, image_caption = picked
ui.untrained_badge(model)
model_id = (model.key, model.source, str(model.device))
result = picture = None
with ui.user_errors("Classifying the image"):
    result = serving.classify(model, image, k=5)  # shared by every session, batched (core.serving)
    picture = serving.model_view(model, image)  # the crop the model sees, shared by every session
if result is None or picture is None:
    st.stop()

side, stage = presenter.split((3, 2))
with side:  # only the controls the chosen view uses are drawn
    view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, default="map", required=True, key="gc_view")
    target = result.top[0].index if view == "top3" else controls.pick_target(model, result)
    layer = explain.layer_choices(model.key).default if view == "depth" else controls.pick_layer(model)
    st.caption(
        f"Maps are drawn over the {picture.width}x{picture.height} crop the model sees "
        f"({safe_text.markdown(image_caption)})."
    )
    if note := models.vocabulary_note(model.card, image_caption):
        st.info(note, icon=":material/category:")
    second = compare.second_model("gc") if view in ("map", "top3") else None
context = Context(
    (f"model: {model.display_name}", f"image: {image_caption}", f"layer: {layer}", f"class: {model.label(target)}"),
    not model.trained,
)
subject = Subject(model, model_id, image, serving.digest(image), picture, target, layer, side, stage, context)
if view == "top3":
    _top3(subject, result)
else:
    {"depth": _depth, "sanity": _sanity_check}.get(view, _one_map)(subject)
if second is not None:
    with stage:
        _second_cam(second, image, image_caption)
