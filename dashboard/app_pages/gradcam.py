"""Grad-CAM & attributions: where does the network look when it decides?"""

import hashlib
from typing import NamedTuple

import numpy as np
import streamlit as st
from PIL import Image

from core import explain, models, safe_text, serving
from core.explain import METHODS, Options
from core.models import Classification, LoadedModel
from core.viz import COLORMAPS, Legend, apply_colormap, overlay, upscale_nearest
from dashboard import compare, exports, presenter, state, ui

VIEWS = {"map": "One map", "top3": "Top-3", "depth": "By layer", "sanity": "Sanity"}  # short: one row
SANITY_METHODS = ("grad_cam", "guided_grad_cam", "saliency")
SANITY_STEPS = 6


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


def _where(s: Subject) -> str:
    """The layer in words: "the last conv block" for the default, else its name."""
    default = explain.layer_choices(s.model.key).default
    return "the last conv block" if s.layer == default else f"layer {s.layer}"


class Panel(NamedTuple):
    title: str
    heat: np.ndarray  # (H, W) in [0, 1] at the input's resolution
    raw: np.ndarray | None  # the map before upsampling (the layer's resolution), in [0, 1]


def _classify(_model: LoadedModel, model_id: tuple, image: Image.Image) -> Classification:
    return serving.classify(_model, image, k=5)  # shared by every session, batched (core.serving)


@st.cache_data(max_entries=32, show_spinner=False)
def _picture(_model: LoadedModel, model_id: tuple, image: Image.Image) -> Image.Image:
    return explain.model_view(_model, image)


def _explain(_model: LoadedModel, model_id: tuple, image: Image.Image, targets: tuple, layers: tuple):
    with st.spinner("Computing Grad-CAM…"):
        return serving.explain(_model, image, targets, layers)  # shared by every session, batched


@st.cache_data(max_entries=32, show_spinner="Computing the attribution…")
def _attribute(_model: LoadedModel, model_id: tuple, image: Image.Image, key: str, target: int, layer: str, options):
    return serving.attribute(_model, image, key, target, layer, options)


@st.cache_data(max_entries=8, show_spinner="Randomising the weights, layer group by layer group…")
def _sanity(_model: LoadedModel, model_id: tuple, image: Image.Image, key: str, target: int, layer: str):
    return explain.cascading_randomization(_model, image, key, target, layer, max_steps=SANITY_STEPS)


def _raw_picture(raw: np.ndarray, cmap: str, width: int) -> np.ndarray:
    """The unsmoothed map with one visible square per value (7x7 looks like 7x7)."""
    return upscale_nearest(apply_colormap(raw, cmap), max(1, width // raw.shape[1]))


class Context(NamedTuple):
    """What a downloaded slide says besides its title: model, image, layer; and whether weights are random."""

    facts: tuple[str, ...]
    untrained: bool


@st.fragment
def _draw(
    picture: Image.Image,
    panels: list[Panel],
    stem: str,
    context: Context,
    columns: int = 3,
    downloads: bool = True,
) -> None:
    """Overlays and raw maps, then the opacity and colormap controls (they rerun only this part, never the model)."""
    alpha = st.session_state.get("gc_alpha", 0.5)
    cmap = st.session_state.get("gc_cmap", "jet")
    single, width = len(panels) == 1, min(columns, len(panels))
    for i, panel in enumerate(panels):
        if i % width == 0:  # a new row; one map: the overlay on the left, its raw map on the right
            cells = st.columns(2 if single else width)
        cell = cells[i % width]
        blended = overlay(picture, panel.heat, alpha, cmap)
        cell.image(exports.honest(blended, context.untrained), caption=panel.title, width="stretch")
        shown = exports.Shown(
            blended,
            panel.title,
            context.facts,
            Legend(cmap, "no evidence", "strong evidence"),
            context.untrained,
            "Where did the network look, and is that where you would look?",
        )
        if i == 0:
            exports.record(shown)
        if downloads:
            exports.download(
                shown, f"{stem}.png" if single else f"{stem}_{i + 1}.png", f"gc_png_{i}", "Overlay (PNG)", where=cell
            )
        if panel.raw is not None:
            (cells[1] if single else cell).image(
                exports.honest(Image.fromarray(_raw_picture(panel.raw, cmap, picture.width)), context.untrained),
                caption=f"raw map, {panel.raw.shape[0]}x{panel.raw.shape[1]}",
                width="stretch",
            )
    left, right = st.columns(2)
    left.slider("Heatmap opacity", 0.0, 1.0, 0.5, 0.05, key="gc_alpha", on_change=state.changed)
    right.selectbox("Colormap", COLORMAPS, index=COLORMAPS.index("jet"), key="gc_cmap", on_change=state.changed)


def _pick_target(model: LoadedModel, result: Classification) -> int:
    """The class to explain: one of the top-5 (the prediction by default) or any class by name."""
    mode = st.segmented_control(
        "Explain the class", ["Top-5", "Any class"], default="Top-5", required=True, key="gc_target_mode"
    )
    if mode == "Any class":
        names = model.categories
        if st.session_state.get("gc_class") not in range(len(names)):  # another model, or a bad link
            state.clear("gc_class")
        return st.selectbox(
            "Search a class by name",
            range(len(names)),
            index=result.top[0].index,
            format_func=lambda i: f"{names[i]} ({i})",
            key="gc_class",
        )
    top = {p.index: p for p in result.top}
    return st.radio(
        "Top-5 predictions",
        list(top),
        format_func=lambda i: f"{top[i].label} · {top[i].probability:.1%}",
        key=f"gc_top_{model.key}_{'_'.join(map(str, top))}",
    )


def _pick_layer(model: LoadedModel) -> str:
    choices = explain.layer_choices(model.key)

    def label(name: str) -> str:
        shape = "×".join(map(str, choices.shapes[name]))
        return f"{name} · last conv block · {shape}" if name == choices.default else f"{name} · {shape}"

    return st.selectbox(
        "Layer",
        [choices.default, *(c for c in choices.convs if c != choices.default)],
        format_func=label,
        key=f"gc_layer_{model.key}",
        help="Grad-CAM looks at this layer's feature maps (channels x height x width). "
        "The default, the last convolutional block, is where the features are most about classes.",
    )


def _options() -> Options:
    """Method settings, read from their widgets (drawn only for the methods that use them)."""
    defaults = Options()
    return Options(
        steps=st.session_state.get("gc_steps", defaults.steps),
        batch_size=st.session_state.get("gc_batch", defaults.batch_size),
        window=st.session_state.get("gc_window", defaults.window),
        stride=st.session_state.get("gc_stride", defaults.stride),
    )


def _option_widgets(key: str, side: int) -> None:
    defaults = Options()
    cols = st.columns(2)
    if key == "integrated_gradients":
        cols[0].slider("Steps along the path", 8, 128, defaults.steps, 8, key="gc_steps")
    if key == "occlusion":
        cols[0].slider("Square (pixels)", 8, side // 2, defaults.window, 4, key="gc_window")
        cols[1].slider("Step (pixels)", 4, side // 4, defaults.stride, 4, key="gc_stride")
    if key in {"integrated_gradients", "occlusion"}:
        st.slider("Images per batch", 1, 16, defaults.batch_size, key="gc_batch", help="Bounds memory: more is faster.")


@st.cache_data(max_entries=16, show_spinner="Timing a warm pass of the model…")
def _pass_times(_model: LoadedModel, model_id: tuple, size: tuple[int, int]) -> explain.PassTimes:
    return explain.measure_passes(_model, size)


def _one_map(s: Subject) -> None:
    options = _options()  # as their widgets below were last set
    size = (s.picture.height, s.picture.width)
    costs = {k: m.cost(options, size) for k, m in METHODS.items()}
    times = _pass_times(s.model, s.model_id, size)
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
        _option_widgets(key, min(size))
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
    with s.stage, ui.user_errors(chosen.label):
        if key == "grad_cam":
            cams = _explain(s.model, s.model_id, s.image, (s.target,), (s.layer,))
            maps = cams.layers[0]
            title = f"Grad-CAM of {cams.labels[0]} ({cams.probabilities[0]:.1%}) at {_where(s)}"
            panel = Panel(title, maps.maps[0], maps.coarse[0])
        else:
            result = _attribute(s.model, s.model_id, s.image, key, s.target, s.layer, options)
            panel = Panel(f"{chosen.label} of {result.label}", result.heat, result.heat)
            if result.note:
                st.caption(result.note)
        _draw(s.picture, [panel], f"{key}_{s.model.key}_{s.target}", s.context)
        presenter.notice("gradcam", "map")


def _top3(s: Subject, result: Classification) -> None:
    targets = tuple(p.index for p in result.top[:3])
    with s.stage, ui.user_errors("Grad-CAM of the top-3 classes"):
        cams = _explain(s.model, s.model_id, s.image, targets, (s.layer,))
        maps = cams.layers[0]
        panels = [
            Panel(f"{label} · {p:.1%}", maps.maps[i], maps.coarse[i])
            for i, (label, p) in enumerate(zip(cams.labels, cams.probabilities, strict=True))
        ]
        _draw(s.picture, panels, f"gradcam_top3_{s.model.key}", s.context)
        presenter.notice("gradcam", "top3")
        st.caption(
            f"The three most probable classes at {_where(s)}, from one forward and one backward pass: the layer's "
            "output is repeated once per class, so the network runs once. Different classes, different evidence. "
            "**The maps do not share one colour scale**: each is scaled to its own maximum, so compare where "
            "they look, not how strongly."
        )


def _depth(s: Subject) -> None:
    layers = explain.layer_choices(s.model.key).depth
    with s.stage, ui.user_errors("Grad-CAM layer by layer"):
        cams = _explain(s.model, s.model_id, s.image, (s.target,), layers)
        panels = [
            Panel(f"{m.layer} · {m.coarse.shape[1]}x{m.coarse.shape[2]}", m.maps[0], m.coarse[0]) for m in cams.layers
        ]
        _draw(s.picture, panels, f"gradcam_depth_{s.model.key}", s.context, columns=len(panels))
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
        check = _sanity(s.model, s.model_id, s.image, key, s.target, s.layer)
        panels = [Panel("original", check.original, None)] + [
            Panel(
                f"down to {stage.label} · " + ("flat map" if np.isnan(stage.spearman) else f"ρ = {stage.spearman:.2f}"),
                stage.heat,
                None,
            )
            for stage in check.stages
        ]
        _draw(s.picture, panels, f"sanity_{key}_{s.model.key}", s.context, columns=4, downloads=False)
        presenter.notice("gradcam", "sanity")
        st.plotly_chart(explain.similarity_figure(check), width="stretch", key="gc_sanity_chart")
        final = check.stages[-1].spearman
        if np.isnan(final):
            verdict = "the map is flat (no positive evidence left), so it cannot be ranked against the original"
        elif final >= 0.8:
            verdict = "the map hardly changed although the model is now random: it shows the image, not the model"
        elif final >= 0.3:
            verdict = "the map changed only in part: some of it comes from the image or the architecture"
        else:
            verdict = "the map changed completely as the weights were destroyed: it depends on what the model learned"
        untrained = "" if s.model.trained else " This model is untrained: its map was random to begin with."
        measured = "" if np.isnan(final) else f" (Spearman ρ = {final:.2f})"
        st.caption(f"After randomising every layer{measured}, {verdict}.{untrained}")


def _second_cam(second: LoadedModel, image: Image.Image, caption: str) -> None:
    """Grad-CAM of the second model's own prediction, at its default layer, on the same image."""
    second_id = (second.key, second.source, str(second.device))
    with ui.user_errors(f"Grad-CAM of {second.display_name}"):
        guess = _classify(second, second_id, image).top[0]
        layer = explain.layer_choices(second.key).default
        cams = _explain(second, second_id, image, (guess.index,), (layer,))
        heat = overlay(
            _picture(second, second_id, image),
            cams.layers[0].maps[0],
            st.session_state.get("gc_alpha", 0.5),
            st.session_state.get("gc_cmap", "jet"),
        )
        title = f"{second.display_name}: Grad-CAM of {cams.labels[0]} ({cams.probabilities[0]:.1%}) at {layer}"
        st.image(exports.honest(heat, not second.trained), caption=title, width="stretch")
        exports.record(
            exports.Shown(
                heat,
                title,
                (f"model: {second.display_name}", f"image: {caption}", f"layer: {layer}"),
                None,
                not second.trained,
                "",
            )
        )


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
    result = _classify(model, model_id, image)
    picture = _picture(model, model_id, image)
if result is None or picture is None:
    st.stop()

controls, stage = presenter.split((3, 2))
with controls:  # only the controls the chosen view uses are drawn
    view = st.segmented_control("View", list(VIEWS), format_func=VIEWS.get, default="map", required=True, key="gc_view")
    target = result.top[0].index if view == "top3" else _pick_target(model, result)
    layer = explain.layer_choices(model.key).default if view == "depth" else _pick_layer(model)
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
digest = hashlib.sha1(image.tobytes()).hexdigest()
subject = Subject(model, model_id, image, digest, picture, target, layer, controls, stage, context)
if view == "top3":
    _top3(subject, result)
elif view == "depth":
    _depth(subject)
elif view == "sanity":
    _sanity_check(subject)
else:
    _one_map(subject)
if second is not None:
    with stage:
        _second_cam(second, image, image_caption)
