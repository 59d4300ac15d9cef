"""What units learned: a channel's strongest dataset patches beside the image it wants."""

import streamlit as st
from PIL import Image

from core import safe_text
from core.datasets import image_sources, load_image_set
from core.features import (
    FeatureVis,
    UnitMaxima,
    channel_csv,
    channel_examples,
    dataset_maxima,
    examples_grid,
    find_cached_maxima,
    find_cached_vis,
    input_sizes,
    objective_figure,
    to_picture,
    visualise,
)
from core.models import LoadedModel
from core.util import conv_layers
from core.viz import untrained_csv
from dashboard import exports, state, ui

CHANNEL, CLASS = "this channel", "a class"
FV_SIZES = (64, 128, 224)
FV_STEPS = (16, 64, 128, 256, 512)
STYLES = {"one object (its outline)": "shape", "texture (Lucid)": "texture"}
HOW = {
    "shape": "One object's outline, painted in random colours, moved, scaled and rotated at every step.",
    "texture": "Decorrelated Fourier image, jittered, scaled and rotated at every step (Lucid/Lucent).",
}


def _record(model: LoadedModel, images, size: int) -> UnitMaxima:
    """Run the pass with a progress bar; pressing Stop (a rerun) interrupts it and nothing is saved."""
    bar = st.progress(0.0, text=f"Running {model.card.label} over {len(images.samples)} images...")
    st.button("Stop", key="ud_stop", icon=":material/stop:", help="Stops the pass; nothing is saved.")

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / total, 1.0), text=f"{done} of {total} images")

    return dataset_maxima(model, images, size, progress=progress)


def dataset_pass(model: LoadedModel) -> UnitMaxima | None:
    """Choose a dataset and input size; load its stored pass or offer to run it."""
    sources = image_sources()
    labels = [s.label for s in sources]
    left, right = st.columns([3, 1])
    state.keep_valid("ud_dataset", labels, labels[0])
    label = left.selectbox("Dataset", labels, key="ud_dataset", help="The transfer page's datasets, and more.")
    sizes = input_sizes(model)
    state.keep_valid("ud_size", sizes, sizes[0])
    size = right.selectbox("Input size (px)", sizes, key="ud_size")
    images = load_image_set(sources[labels.index(label)])
    maxima = find_cached_maxima(model, images, size)
    thinned = f" (thinned evenly from {images.found})" if images.found > len(images.samples) else ""
    if maxima is None:
        slot = st.empty()  # the offer, the bar and Stop go once the pass is stored
        with slot.container():
            st.info(
                f"{len(images.samples)} images{thinned}. One pass records every channel's strongest response "
                "on each image; then every layer and channel shows at once.",
                icon=":material/dataset:",
            )
            if st.button("Record the dataset", key="ud_run", type="primary", icon=":material/play_arrow:"):
                maxima = _record(model, images, size)
        if maxima is not None:
            slot.empty()
    if maxima is not None:
        how = "stored pass" if maxima.cached else f"pass of {maxima.seconds:.1f} s"
        st.caption(
            f"{maxima.model} over {len(maxima.paths)} images{thinned} at {maxima.size} px ({how}); "
            f"{len(maxima.skipped)} file(s) could not be decoded."
        )
    return maxima


def examples_panel(model: LoadedModel, maxima: UnitMaxima | None, layer: str, channel: int) -> None:
    st.markdown(f"#### Dataset examples: what excites channel {channel}")
    if maxima is None:
        st.caption("Record a dataset above to see the images this channel responds to most.")
        return
    examples = channel_examples(model, maxima, layer, channel)
    if not examples:
        st.warning(
            "The images of this channel can no longer be read: they were moved or deleted since the pass. "
            "Reload the page to record the dataset as it is now.",
            icon=":material/image_not_supported:",
        )
        return
    for row in range(0, len(examples), 3):
        for cell, example in zip(st.columns(3), examples[row : row + 3], strict=False):
            caption = f"{example.value:.2f} · {safe_text.markdown(example.image)}"
            cell.image(example.patch.resize((160, 160), Image.NEAREST), caption=caption)
    top, left, bottom, right = examples[0].window
    st.caption(
        f"The {len(examples)} images where channel {channel} of {layer} fires most, each cropped to what its "
        f"strongest unit sees ({bottom - top + 1}×{right - left + 1} px of the {maxima.size} px input)."
    )
    stem = f"{model.key}_{layer}_{channel}_examples"
    facts = (f"model: {model.display_name}", f"dataset: {maxima.dataset}", f"layer: {layer}, channel {channel}")
    shown = exports.Shown(
        examples_grid(examples, side=256),
        f"What excites channel {channel} of {layer}",
        facts,
        None,
        not model.trained,
        "What do these patches have in common?",
    )
    exports.record(shown)
    one, two = st.columns(2)
    exports.download(shown, f"{stem}.png", "ud_png", "Patches (PNG)", where=one)
    two.download_button(
        "Every image's max (CSV)",
        lambda: untrained_csv(channel_csv(model, maxima, layer, channel), not model.trained),  # made on click
        f"{stem}.csv",
        "text/csv",
        key="ud_csv",
        icon=":material/download:",
        on_click="ignore",
        help="Each image's maximum and its row and column, strongest first.",
    )


def _fv_settings(model: LoadedModel) -> tuple[int, int, int, bool, str]:
    target = st.segmented_control("Maximise", [CHANNEL, CLASS], key="ud_fv_target", default=CHANNEL)
    cols = st.columns(2)
    size = cols[0].selectbox("Image size (px)", FV_SIZES, key="ud_fv_size", index=1)
    steps = cols[1].selectbox("Steps", FV_STEPS, key="ud_fv_steps", index=2)
    is_class = target == CLASS and bool(model.categories)
    category = 0
    if is_class:
        names = list(range(len(model.categories)))
        state.keep_valid("ud_fv_class", names, 0)
        category = st.selectbox("Class", names, key="ud_fv_class", format_func=model.label)
        picture = st.segmented_control("Picture", list(STYLES), key="ud_fv_style", default=next(iter(STYLES)))
        return category, size, steps, is_class, STYLES.get(picture or "", "shape")
    return category, size, steps, is_class, "texture"


def _draw(model: LoadedModel, layer: str | None, channel: int, size: int, steps: int, style: str) -> FeatureVis:
    """Optimise with a progress bar and the current picture; Stop (a rerun) interrupts, nothing is saved."""
    bar, live = st.progress(0.0, text="Optimising the image..."), st.empty()
    st.button("Stop", key="ud_fv_stop", icon=":material/stop:", help="Stops the optimisation; nothing is saved.")

    def progress(step: int, total: int, image) -> None:
        bar.progress(step / total, text=f"Step {step} of {total}")
        live.image(to_picture(image).resize((320, 320)), caption=f"step {step}")

    return visualise(model, layer, channel, size, steps, style=style, progress=progress)


def vis_panel(model: LoadedModel, layer: str, channel: int) -> None:
    category, size, steps, is_class, style = _fv_settings(model)
    target_layer, target = (None, category) if is_class else (layer, channel)
    title = f"class {safe_text.markdown(model.label(category))}" if is_class else f"channel {channel}"
    st.markdown(f"#### Feature visualisation: the image {title} wants")
    result = find_cached_vis(model, target_layer, target, size, steps, style=style)
    if result is None:
        slot = st.empty()  # the button, the bar, the live picture and Stop go once the result is stored
        with slot.container():
            if st.button("Draw it", key="ud_fv_run", type="primary", icon=":material/brush:"):
                result = _draw(model, target_layer, target, size, steps, style)
        if result is not None:
            slot.empty()
    if result is None:
        st.caption(f"Press **Draw it**: {steps} steps of gradient ascent on a {size} px image.")
        return
    st.image(result.picture.resize((320, 320)), caption=f"{title} of {layer if not is_class else 'the output'}")
    st.caption(
        f"Objective {result.start:.3f} → {result.final:.3f} in {steps} steps"
        + ("" if result.cached else f" ({result.seconds:.1f} s)")
        + ". "
        + HOW[style]
    )
    st.plotly_chart(objective_figure(result), width="stretch", key="ud_fv_chart")
    stem = f"{model.key}_{target_layer or 'class'}_{target}_{size}px_{steps}steps_{style}"
    facts = (f"model: {model.display_name}", f"{size} px, {steps} steps, {style}")
    what = f"class {model.label(category)}" if is_class else f"{layer}, channel {channel}"
    shown = exports.Shown(
        result.picture, f"The image {what} wants", facts, None, not model.trained, "What does it look like?"
    )
    exports.record(shown)
    one, two = st.columns(2)
    exports.download(shown, f"{stem}.png", "ud_fv_png", "Image (PNG)", where=one)
    two.download_button(
        "Objective per step (CSV)",
        untrained_csv(result.csv(), not model.trained),
        f"{stem}.csv",
        "text/csv",
        key="ud_fv_csv",
        icon=":material/download:",
        on_click="ignore",
    )


@st.fragment
def explore(model: LoadedModel, maxima: UnitMaxima | None) -> None:
    """Layer and channel, then the two panels side by side."""
    convs = dict(conv_layers(model.module))
    names = list(convs)
    state.keep_valid("ud_layer", names, names[0])
    left, right = st.columns([3, 1])
    layer = left.selectbox(f"Layer ({len(names)} convolutions)", names, key="ud_layer")
    count = convs[layer].out_channels
    state.keep_valid("ud_channel", range(count), 0)
    channel = right.number_input(f"Channel (0-{count - 1})", 0, count - 1, key="ud_channel")
    examples, vis = st.columns(2, gap="large")
    with examples, ui.user_errors("The dataset examples"):
        examples_panel(model, maxima, layer, channel)
    with vis, ui.user_errors("The feature visualisation"):
        vis_panel(model, layer, channel)


st.title("What units learned")
state.reset_button("ud_")
st.markdown(
    "Two ways to see what one channel has learned: the **dataset patches** that excite it most "
    "(Zeiler & Fergus), and the **image it wants**, optimised from noise to excite it (Lucid)."
)
model = ui.selected_model()
if model is not None:
    ui.untrained_badge(model)
    maxima = None
    with ui.user_errors("The dataset pass"):
        maxima = dataset_pass(model)
    explore(model, maxima)
